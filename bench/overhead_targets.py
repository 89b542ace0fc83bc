"""The overhead benchmark's targets (issues 7, 12, 14 and the earlier ones), evaluated on the medians of a run."""

from __future__ import annotations

from .overhead_report import fmt, ms

# The targets of the gateway benchmark (issue 7), and the two earlier ones (c=1 against direct).
LATENCY_SHARE_OF_LITELLM = 0.2
CPU_MS_LIMIT = {False: 3.0, True: 8.0}  # stream -> ms of airelay CPU per request
RPS_TIMES_LITELLM = 5.0
LIMITS_SHARE = 1.10  # airelay with the per-minute limits on, against off: added latency and CPU per request
BEFORE_SHARE = 1.10  # this checkout against an earlier revision (overhead --before): added latency and CPU per request
RPS_SHARE_OF_DIRECT = 0.9
SHARE_OF_LITELLM_V1 = 1 / 8  # issue 14, /v1 at c=1: added latency p50 and p99, and CPU per request
EARLIER = {
    "buffered_c1": ("total_p50_ms", 2.0, "added latency p50 <= 2 ms"),
    "stream_c1": ("first_text_p50_ms", 3.0, "added TTFT p50 <= 3 ms"),
}

CPU_TIMES_FLOOR = 3.0  # issue 14: airelay's CPU per request at most 3x a bare Python relay's


def target(
    label: str, where: str, value: float | None, limit: float, at_most: bool, detail: str, unit: str = ""
) -> dict:
    passed = None if value is None else (value <= limit if at_most else value >= limit)
    return {
        "target": label,
        "where": where,
        "value": value,
        "limit": limit,
        "at_most": at_most,
        "unit": unit,
        "detail": detail,
        "passed": passed,
    }


def targets(document: dict) -> list[dict]:
    """Every target of the overhead benchmark, evaluated on the medians of this run."""
    scenarios = document["scenarios"]
    rows = []
    for s in scenarios.values():  # added latency against LiteLLM's, instant upstream, every concurrency
        if s["upstream_delay_s"]:
            continue
        summary, what = s["summary"], "TTFT" if s["stream"] else "latency"
        for p in (50, 99):
            metric = f"{s['latency']}_p{p}_ms"
            ours, theirs = (summary["added"].get(g, {}).get(metric) for g in ("airelay", "litellm"))
            rows.append(
                target(
                    f"added {what} p{p} <= 1/5 of LiteLLM's",
                    s["title"],
                    summary["vs_litellm"].get(metric),
                    LATENCY_SHARE_OF_LITELLM,
                    True,
                    f"airelay {ms(ours, True)}, LiteLLM {ms(theirs, True)}",
                    "x",
                )
            )
    for s in scenarios.values():  # issue 14's stricter share at c=1: added latency and CPU per request
        if s["upstream_delay_s"] or s["concurrency"] != 1:
            continue
        summary, what = s["summary"], "TTFT" if s["stream"] else "latency"
        for metric, name, figures in (
            (f"{s['latency']}_p50_ms", f"added {what} p50", summary["added"]),
            (f"{s['latency']}_p99_ms", f"added {what} p99", summary["added"]),
            ("gateway_cpu_ms_per_request", "CPU per request", summary),
        ):
            ours, theirs = (figures.get(g, {}).get(metric) for g in ("airelay", "litellm"))
            rows.append(
                target(
                    f"{name} <= 1/8 of LiteLLM's (issue 14)",
                    s["title"],
                    summary["vs_litellm"].get(metric),
                    SHARE_OF_LITELLM_V1,
                    True,
                    f"airelay {ms(ours)}, LiteLLM {ms(theirs)}",
                    "x",
                )
            )
    for stream, limit in CPU_MS_LIMIT.items():  # CPU per request, the worst scenario of each kind
        kind = [s for s in scenarios.values() if s["stream"] == stream and "airelay" in s["summary"]["sides"]]
        ours = [(s["summary"]["airelay"]["gateway_cpu_ms_per_request"], s["title"]) for s in kind]
        ours = [(v, t) for v, t in ours if v is not None]
        theirs = [
            s["summary"]["litellm"]["gateway_cpu_ms_per_request"] for s in kind if "litellm" in s["summary"]["sides"]
        ]
        theirs = [v for v in theirs if v is not None]
        worst = max(ours) if ours else (None, "-")
        detail = (
            f"worst: {worst[1]}; LiteLLM {min(theirs):.1f}-{max(theirs):.1f} ms" if theirs else f"worst: {worst[1]}"
        )
        rows.append(
            target(
                f"airelay CPU per {'20-chunk stream' if stream else 'buffered request'} <= {limit:g} ms",
                f"all {len(ours)} {'stream' if stream else 'buffered'} scenarios",
                worst[0],
                limit,
                True,
                detail,
                "ms",
            )
        )
    for s in scenarios.values():  # throughput per worker against LiteLLM's, where both are saturated
        if s["upstream_delay_s"] or s["concurrency"] == 1:
            continue
        summary = s["summary"]
        ours, theirs = (summary.get(g, {}).get("rps") for g in ("airelay", "litellm"))
        rows.append(
            target(
                f"req/s per worker >= {RPS_TIMES_LITELLM:g}x LiteLLM's",
                s["title"],
                summary["vs_litellm"].get("rps"),
                RPS_TIMES_LITELLM,
                False,
                f"airelay {fmt(ours, 'rps')}, LiteLLM {fmt(theirs, 'rps')} req/s",
                "x",
            )
        )
    for s in scenarios.values():  # behind a 50 ms upstream, keep up with direct
        if not s["upstream_delay_s"]:
            continue
        summary = s["summary"]
        litellm = summary["ratio"].get("litellm", {}).get("rps")
        rows.append(
            target(
                f"req/s >= {RPS_SHARE_OF_DIRECT:.0%} of direct",
                s["title"],
                summary["ratio"].get("airelay", {}).get("rps"),
                RPS_SHARE_OF_DIRECT,
                False,
                f"airelay {fmt(summary['airelay']['rps'], 'rps')}, direct {fmt(summary['direct']['rps'], 'rps')}"
                f" req/s; LiteLLM {fmt(litellm, 'rps', 'ratio')} of direct",
                "x",
            )
        )
    for s in scenarios.values():  # CPU per request against the bare relay's (bench/floor.py)
        multiple = s["summary"].get("vs_floor", {}).get("gateway_cpu_ms_per_request")
        if multiple is None:
            continue
        ours, floor = (s["summary"].get(g, {}).get("gateway_cpu_ms_per_request") for g in ("airelay", "floor"))
        rows.append(
            target(
                f"CPU per request <= {CPU_TIMES_FLOOR:g}x the bare relay's",
                s["title"],
                multiple,
                CPU_TIMES_FLOOR,
                True,
                f"airelay {fmt(ours, 'rps')} ms, bare relay {fmt(floor, 'rps')} ms",
                "x",
            )
        )
    for key, (metric, limit, label) in EARLIER.items():
        if key in scenarios:
            s = scenarios[key]
            rows.append(
                target(
                    f"{label} (earlier target)",
                    s["title"],
                    s["summary"]["added"].get("airelay", {}).get(metric),
                    limit,
                    True,
                    "",
                    "ms",
                )
            )
    # the per-minute limits on against off, and this checkout against an earlier revision (--before): c=1, same rounds
    rows += paired_targets(
        scenarios,
        "limits_vs_airelay",
        ("airelay_limits", "airelay"),
        LIMITS_SHARE,
        "limit checks add <= {share} to {what}",
        ("with limits", "without"),
    )
    rows += paired_targets(
        scenarios,
        "now_vs_before",
        ("airelay", "airelay_before"),
        BEFORE_SHARE,
        "{what} within {share} of the earlier revision",
        ("now", "before"),
    )
    return rows


def paired_targets(scenarios: dict, ratio: str, sides: tuple[str, str], share: float, name: str, words) -> list[dict]:
    """Two targets for each c=1 scenario that ran the two `sides` in the same rounds: the ratio `ratio` of their
    added latency (TTFT for streams) p50 and of their CPU per request, each at most `share`."""
    rows = []
    first, second = words
    for s in scenarios.values():
        vs = s["summary"].get(ratio) or {}
        if s["concurrency"] != 1 or not vs:
            continue
        added = [s["summary"]["added"].get(side, {}) for side in sides]
        cpu = [s["summary"][side]["gateway_cpu_ms_per_request"] for side in sides]
        metric, what = f"{s['latency']}_p50_ms", "TTFT" if s["stream"] else "latency"
        limit = f"{share - 1:.0%}"
        rows.append(
            target(
                name.format(share=limit, what=f"added {what} p50"),
                s["title"],
                vs.get(metric),
                share,
                True,
                f"{first} {ms(added[0].get(metric), True)}, {second} {ms(added[1].get(metric), True)}",
                "x",
            )
        )
        rows.append(
            target(
                name.format(share=limit, what="CPU per request"),
                s["title"],
                vs.get("gateway_cpu_ms_per_request"),
                share,
                True,
                f"{first} {fmt(cpu[0], 'cpu')} ms, {second} {fmt(cpu[1], 'cpu')} ms",
                "x",
            )
        )
    return rows
