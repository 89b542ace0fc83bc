"""The overhead benchmark's statistics: one run of one side described, and the rounds of a scenario summarized
in medians over rounds of values paired within a round."""

from __future__ import annotations

from .load import Run
from .stats import median, minus, paired, percentile, ratio

SIDES = ("direct", "airelay", "airelay_limits", "airelay_before", "litellm", "floor")
GATEWAYS = ("airelay", "airelay_limits", "airelay_before", "litellm", "floor")

LATENCY_METRICS = (
    "total_p50_ms",
    "total_p95_ms",
    "total_p99_ms",
    "first_text_p50_ms",
    "first_text_p95_ms",
    "first_text_p99_ms",
)
SIDE_METRICS = (
    "rps",
    *LATENCY_METRICS,
    "client_cpu_pct",
    "upstream_cpu_ms_per_request",
    "upstream_sys_ms_per_request",
    "other_processes_cores",
    "gateway_cpu_ms_per_request",
    "gateway_sys_ms_per_request",
    "gateway_cpu_pct",
)


def describe(run: Run, cpu: dict[str, float]) -> dict:
    elapsed_ms = run.elapsed_s * 1000
    result = {
        "requests": run.requests,
        "errors": run.errors,
        "elapsed_s": round(run.elapsed_s, 3),
        "rps": run.rps,
        "client_cpu_pct": 100 * run.client_cpu_s * 1000 / elapsed_ms,
    }
    for p in (50, 95, 99):
        result[f"total_p{p}_ms"] = percentile(run.total_ms, p)
        result[f"first_text_p{p}_ms"] = percentile(run.first_text_ms, p)
    machine = cpu.pop("machine")
    for name, ms in cpu.items():
        result[f"{name}_ms_per_request"] = ms / run.requests if run.requests else None
    if "gateway_cpu" in cpu:
        result["gateway_cpu_pct"] = 100 * cpu["gateway_cpu"] / elapsed_ms
    ours = run.client_cpu_s * 1000 + sum(ms for name, ms in cpu.items() if name.endswith("_cpu"))
    result["other_processes_cores"] = max(0.0, machine - ours) / elapsed_ms  # the machine's noise during the run
    return result


def summarize(rounds: list[dict]) -> dict:
    """Medians over rounds per side; added (gateway - direct), ratio (gateway / direct) and airelay vs LiteLLM, each
    paired within a round first."""
    sides = [side for side in SIDES if all(side in r for r in rounds)]
    summary: dict = {"sides": sides, "added": {}, "ratio": {}, "vs_litellm": {}, "limits_vs_airelay": {}}
    for side in sides:
        summary[side] = {m: median([r[side].get(m) for r in rounds]) for m in SIDE_METRICS}
    direct = [r["direct"] for r in rounds]
    for side in (s for s in GATEWAYS if s in sides):
        relayed = [r[side] for r in rounds]
        summary["added"][side] = {
            m: paired([d.get(m) for d in direct], [g.get(m) for g in relayed], minus) for m in ("rps", *LATENCY_METRICS)
        }
        summary["ratio"][side] = {
            m: paired([d.get(m) for d in direct], [g.get(m) for g in relayed], ratio) for m in ("rps", *LATENCY_METRICS)
        }
    if "airelay" in sides and "litellm" in sides:

        def added(r: dict, side: str, m: str) -> float | None:
            d, g = r["direct"].get(m), r[side].get(m)
            return None if d is None or g is None else g - d

        vs = summary["vs_litellm"]
        for m in LATENCY_METRICS:  # airelay's added latency / LiteLLM's
            vs[m] = paired([added(r, "litellm", m) for r in rounds], [added(r, "airelay", m) for r in rounds], ratio)
        for m in ("rps", "gateway_cpu_ms_per_request"):  # airelay's / LiteLLM's
            vs[m] = paired([r["litellm"].get(m) for r in rounds], [r["airelay"].get(m) for r in rounds], ratio)
    if "airelay" in sides and "floor" in sides:  # airelay's CPU per request as a multiple of the bare relay's
        summary["vs_floor"] = {
            "gateway_cpu_ms_per_request": paired(
                [r["floor"].get("gateway_cpu_ms_per_request") for r in rounds],
                [r["airelay"].get("gateway_cpu_ms_per_request") for r in rounds],
                ratio,
            )
        }
    if "airelay" in sides and "airelay_limits" in sides:  # added latency and CPU with the limits on / off
        vs = summary["limits_vs_airelay"]
        for m in LATENCY_METRICS:
            vs[m] = paired(
                [r["airelay"].get(m) - r["direct"].get(m) if r["airelay"].get(m) is not None else None for r in rounds],
                [
                    r["airelay_limits"].get(m) - r["direct"].get(m) if r["airelay_limits"].get(m) is not None else None
                    for r in rounds
                ],
                ratio,
            )
        vs["gateway_cpu_ms_per_request"] = paired(
            [r["airelay"].get("gateway_cpu_ms_per_request") for r in rounds],
            [r["airelay_limits"].get("gateway_cpu_ms_per_request") for r in rounds],
            ratio,
        )
    if "airelay" in sides and "airelay_before" in sides:  # this checkout's added latency and CPU / the revision's
        summary["now_vs_before"] = versus(rounds, "airelay_before", "airelay")
    summary["errors"] = {side: sum(r[side]["errors"] for r in rounds) for side in sides}
    return summary


def versus(rounds: list[dict], base: str, side: str) -> dict:
    """`side`'s added latency (over direct) and CPU per request as multiples of `base`'s, paired within a round."""

    def added(r: dict, name: str, m: str) -> float | None:
        d, g = r["direct"].get(m), r[name].get(m)
        return None if d is None or g is None else g - d

    vs = {
        m: paired([added(r, base, m) for r in rounds], [added(r, side, m) for r in rounds], ratio)
        for m in LATENCY_METRICS
    }
    cpu = "gateway_cpu_ms_per_request"
    vs[cpu] = paired([r[base].get(cpu) for r in rounds], [r[side].get(cpu) for r in rounds], ratio)
    return vs
