"""What airelay adds on top of its upstream, side by side with the LiteLLM proxy: latency, time to first token,
throughput and CPU per request.

Every scenario calls a fake OpenAI-compatible upstream on loopback four ways per round: directly, through airelay
(`local.server` under uvicorn, in its own process), through the LiteLLM proxy (its own venv, 1 worker, no database)
and through the bare relay (bench/floor.py: the same path with nothing but the forwarding, the floor for a Python
relay). airelay and LiteLLM answer on the same path, /v1/chat/completions, the same request body as the direct call
(`--airelay-route api` measures airelay's own /api/chat instead). The order rotates from round to round because the
machine is noisy, and the report shows medians over rounds of values paired within a round.

    python -m bench.overhead [--quick] [--rounds 3] [--seconds 4] [--only stream_c1 ...] [--without-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import overhead_targets, report
from .client import Reply, post_request
from .load import Run, Target, measure
from .servers import (
    HOST,
    ROOT,
    LiteLLM,
    Server,
    litellm_available,
    litellm_version,
    machine_busy_ms,
    start_airelay,
    start_floor,
    start_upstream,
)
from .stats import median, minus, paired, percentile, ratio

MODEL = "bench-model"
MESSAGE = "Say hello in one short sentence."
MAX_TOKENS = 64
CHUNKS = 20
PERSONAS = ROOT / "layers" / "core" / "airelay" / "data" / "personas.json"
# The bench model is priced like gpt-4o-mini (USD per 1M tokens) so that usage metering runs as for a paid model, in
# airelay and in LiteLLM alike; airelay's ledger is a fresh file per run and its budgets are out of reach.
PRICE = {"input": "0.15", "cached_input": "0.075", "output": "0.60"}
SIDES = ("direct", "airelay", "airelay_limits", "airelay_before", "litellm", "floor")
GATEWAYS = ("airelay", "airelay_limits", "airelay_before", "litellm", "floor")
# airelay as above with the caller's per-minute limits on, high enough never to refuse: every call is checked against
# requests and tokens per minute in the same reservation as its budgets. Measured beside "airelay" in every round.
LIMITS_ENV = {"REQUESTS_PER_MINUTE": str(10**9), "TOKENS_PER_MINUTE": str(10**12)}
# With --before REV, airelay of that revision (its whole tree from `git archive`, the same venv) is measured beside
# this checkout's in every round: "airelay_before".
# Both gateways authenticate the caller by key and file its spend under it: airelay with API_KEYS (which API Gateway
# checks on AWS, the local API itself here) named in SERVER_KEYS, LiteLLM with its master key.
AIRELAY_KEY = {"x-api-key": "sk-bench-" + secrets.token_hex(16)}
AIRELAY_BEARER = {"authorization": f"Bearer {AIRELAY_KEY['x-api-key']}"}  # how OpenAI clients send the same key

# What LiteLLM is known to add elsewhere, kept in each result beside this run's own figures.
REFERENCES = {
    "litellm_published": "LiteLLM proxy: 12 / 29 / 43 ms added at p50 / p95 / p99 at 1k RPS on 2 instances of 4 CPUs",
    "independent": "independent benchmark: 4.34 ms added for LiteLLM, 2.37 ms for Portkey",
    "same_machines_nov_2026": "LiteLLM 1.108, 1 worker, no database: +17.7 ms p50 / +25 ms p99 buffered at c=1, "
    "about 50 buffered or 21 streamed req/s per worker; the tutorial's FastAPI server: "
    "18 req/s behind a 50 ms upstream at c=16",
}


def airelay_env(ledger_dir: str, overrides: list[str]) -> dict[str, str]:
    env = {
        "MODEL_PRICES": json.dumps({f"openai/{MODEL}": PRICE}),
        "USAGE_DB_PATH": f"{ledger_dir}/usage.sqlite3",
        "USAGE_TABLE": "",
        "DAILY_BUDGET_USD": "1000000",
        "IDENTITY_DAILY_BUDGET_USD": "1000000",
        "API_KEYS": f"bench={AIRELAY_KEY['x-api-key']}",
        "SERVER_KEYS": "bench",  # a server's key, like LiteLLM's master key: its calls are filed under the key
        # each call's EMF metrics document written, as on AWS; revisions before Powertools named the switch
        # AIRELAY_METRICS (off unless set), so a --before tree writes its metrics too
        "POWERTOOLS_METRICS_DISABLED": "false",
        "AIRELAY_METRICS": "true",
    }
    for item in overrides:
        name, _, value = item.partition("=")
        env[name] = value
    return env


@dataclass(frozen=True)
class Scenario:
    key: str
    stream: bool
    concurrency: int
    upstream_delay_s: float

    @property
    def timed(self) -> bool:
        """c=1 runs stop after --requests (or --seconds); the others run for --seconds and are judged on req/s."""
        return self.concurrency > 1

    @property
    def title(self) -> str:
        kind = f"stream ({CHUNKS} chunks)" if self.stream else "buffered"
        upstream = f"{self.upstream_delay_s * 1000:g} ms upstream" if self.upstream_delay_s else "instant upstream"
        return f"{kind}, c={self.concurrency}, {upstream}"

    @property
    def latency(self) -> str:
        """The latency a user feels: time to first token for a stream, the whole answer otherwise."""
        return "first_text" if self.stream else "total"


SCENARIOS = tuple(
    Scenario(f"{'stream' if stream else 'buffered'}_c{c}{'_50ms' if delay else ''}", stream, c, delay)
    for delay in (0.0, 0.05)
    for c in (1, 16, 64)
    for stream in (False, True)
    if not (delay and c == 1)
)

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


def direct_payload(stream: bool) -> dict:
    """The OpenAI request airelay itself sends for MESSAGE: its system prompt, the message, same max_tokens."""
    system = json.loads(PERSONAS.read_text("utf-8"))["assistant"]["system"]
    payload = {
        "model": MODEL,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": MESSAGE}],
    }
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    return payload


def openai_target(name: str, port: int, stream: bool, headers: dict[str, str] | None = None) -> Target:
    """The upstream itself, or LiteLLM (an OpenAI-compatible proxy): the same request, answered in the same format."""
    request = post_request(HOST, port, "/v1/chat/completions", direct_payload(stream), headers)
    if stream:
        return Target(name, port, request, ends_with_done, first_text=has_delta_content)
    return Target(name, port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


def airelay_target(port: int, stream: bool, route: str, name: str = "airelay") -> Target:
    if route == "v1":  # the OpenAI-compatible route: the direct call's request, answered in the same format
        return openai_target(name, port, stream, AIRELAY_BEARER)
    payload = {"message": MESSAGE, "max_tokens": MAX_TOKENS}
    if stream:
        request = post_request(HOST, port, "/api/chat/stream", payload, AIRELAY_KEY)
        return Target(
            name,
            port,
            request,
            lambda r: ends_with_done(r) and b'"type":"finish"' in r.body,
            first_text=lambda event: event.get("type") == "text-delta",
        )
    request = post_request(HOST, port, "/api/chat", payload, AIRELAY_KEY)
    return Target(name, port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


def ends_with_done(reply: Reply) -> bool:
    return reply.status == 200 and reply.body.endswith(b"data: [DONE]\n\n")


def has_delta_content(chunk: dict) -> bool:
    choices = chunk.get("choices") or ()
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


async def run_side(scenario: Scenario, target: Target, servers: dict[str, Server], args) -> dict:
    cpu: dict[str, float] = {}  # "<server>_cpu" (user + system) and "<server>_sys" milliseconds, "machine"

    def cpu_now(sign: int) -> Callable[[], None]:
        def read() -> None:
            cpu["machine"] = cpu.get("machine", 0.0) + sign * machine_busy_ms()
            for name, server in servers.items():
                user, system = server.cpu_ms()
                cpu[f"{name}_cpu"] = cpu.get(f"{name}_cpu", 0.0) + sign * (user + system)
                cpu[f"{name}_sys"] = cpu.get(f"{name}_sys", 0.0) + sign * system

        return read

    bounds = (10**6, args.seconds) if scenario.timed else (args.requests, args.seconds)
    run = await measure(
        target, scenario.concurrency, (args.warmup, args.warmup_seconds), bounds, cpu_now(-1), cpu_now(+1)
    )
    return describe(run, cpu)


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


def sides_of_round(number: int, sides: list[str]) -> list[str]:
    """direct, airelay, litellm in round 1; airelay, litellm, direct in round 2; ...: no side always goes first."""
    shift = (number - 1) % len(sides)
    return sides[shift:] + sides[:shift]


async def run_scenario(scenario: Scenario, upstream: Server, gateways: dict[str, Server], args) -> dict:
    targets = {"direct": openai_target("direct", upstream.port, scenario.stream)}
    for name in ("airelay", "airelay_limits", "airelay_before"):
        if name in gateways:
            targets[name] = airelay_target(gateways[name].port, scenario.stream, args.airelay_route, name)
    if "litellm" in gateways:
        litellm = gateways["litellm"]
        targets["litellm"] = openai_target("litellm", litellm.port, scenario.stream, litellm.auth)
    if "floor" in gateways:
        targets["floor"] = openai_target("floor", gateways["floor"].port, scenario.stream)
    rounds = []
    for number in range(1, args.rounds + 1):
        this_round = {}
        for side in sides_of_round(number, list(targets)):
            watched = {"upstream": upstream} | ({"gateway": gateways[side]} if side in gateways else {})
            this_round[side] = result = await run_side(scenario, targets[side], watched, args)
            print(f"  {scenario.key:<18} round {number} {side:<7} {progress(result)}", flush=True)
        rounds.append(this_round)
    return {
        "title": scenario.title,
        "concurrency": scenario.concurrency,
        "stream": scenario.stream,
        "timed": scenario.timed,
        "upstream_delay_s": scenario.upstream_delay_s,
        "latency": scenario.latency,
        "rounds": rounds,
        "summary": summarize(rounds),
    }


def progress(result: dict) -> str:
    line = (
        f"{result['requests']:>6} ok {result['errors']:>3} err {result['rps']:8.1f} req/s"
        f"  p50 {result['total_p50_ms'] or 0:7.2f} ms"
    )
    if result["first_text_p50_ms"] is not None:
        line += f"  TTFT p50 {result['first_text_p50_ms']:7.2f} ms"
    if result.get("gateway_cpu_ms_per_request") is not None:
        line += f"  CPU {result['gateway_cpu_ms_per_request']:.2f} ms/req ({result['gateway_cpu_pct']:.0f} %)"
    line += f"  others {result['other_processes_cores']:.2f} cores"
    return line


def run_all(args, scenarios: list[Scenario]) -> dict:
    results: dict = {}
    servers: list[Server] = []
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner, tempfile.TemporaryDirectory() as ledger_dir:
            for delay in sorted({s.upstream_delay_s for s in scenarios}):
                upstream = start_upstream(delay, CHUNKS)
                servers.append(upstream)
                env = airelay_env(ledger_dir, args.airelay_env)
                gateways = {"airelay": start_airelay(upstream, MODEL, env, AIRELAY_KEY)}
                servers.append(gateways["airelay"])
                if args.limits:
                    limited = env | LIMITS_ENV | {"USAGE_DB_PATH": f"{ledger_dir}/usage-limits.sqlite3"}
                    gateways["airelay_limits"] = start_airelay(upstream, MODEL, limited, AIRELAY_KEY)
                    servers.append(gateways["airelay_limits"])
                if args.before:
                    earlier = env | {"USAGE_DB_PATH": f"{ledger_dir}/usage-before.sqlite3"}
                    gateways["airelay_before"] = start_airelay(upstream, MODEL, earlier, AIRELAY_KEY, args.before_tree)
                    servers.append(gateways["airelay_before"])
                if args.litellm:
                    gateways["litellm"] = LiteLLM(upstream, MODEL, PRICE)
                    servers.append(gateways["litellm"])
                if args.floor:
                    gateways["floor"] = start_floor(upstream)
                    servers.append(gateways["floor"])
                print(
                    f"upstream pid {upstream.pid} ({upstream.url}), "
                    + ", ".join(f"{name} pid {s.pid} ({s.url})" for name, s in gateways.items()),
                    flush=True,
                )
                for scenario in (s for s in scenarios if s.upstream_delay_s == delay):
                    results[scenario.key] = runner.run(run_scenario(scenario, upstream, gateways, args))
                for server in (*gateways.values(), upstream):
                    server.stop()
    finally:
        for server in reversed(servers):
            server.stop()
    return results


def loop_factory():
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead", description="airelay and LiteLLM overhead over their upstream"
    )
    parser.add_argument("--rounds", type=int, default=3, help="direct/airelay/LiteLLM rounds per scenario (default 3)")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per c=1 run (default 1000)")
    parser.add_argument("--seconds", type=float, default=4.0, help="time bound of every measured run (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up requests before each run (default 100)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="time bound of each warm-up (default 1)")
    parser.add_argument("--only", nargs="+", choices=[s.key for s in SCENARIOS], help="run only these scenarios")
    parser.add_argument(
        "--without-litellm",
        dest="litellm",
        action="store_false",
        help="skip the LiteLLM proxy (it is skipped anyway when bench/.venv-litellm is missing)",
    )
    parser.add_argument(
        "--without-floor", dest="floor", action="store_false", help="skip the bare relay (bench/floor.py)"
    )
    parser.add_argument(
        "--airelay-route",
        choices=("v1", "api"),
        default="v1",
        help="airelay's /v1/chat/completions (default, LiteLLM's path and body) or its own /api/chat",
    )
    parser.add_argument(
        "--without-limits",
        dest="limits",
        action="store_false",
        help="skip airelay with the per-minute limits on (measured beside airelay by default)",
    )
    parser.add_argument(
        "--airelay-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the airelay process (repeatable)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure airelay at this revision beside this checkout, in the same rounds (e.g. 6b7207a)",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 200 requests, 2 s runs: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.seconds, args.warmup, args.warmup_seconds = 1, 200, 2.0, 50, 0.5
    return args


def run(argv: list[str]) -> dict:
    """Runs the scenarios and writes the results; returns the document (raises on a failed start)."""
    args = parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only]
    notes = []
    if args.litellm and not litellm_available():
        args.litellm = False
        notes.append("LiteLLM not measured: bench/.venv-litellm is missing (make bench-litellm)")
        print(notes[-1], flush=True)
    meta = report.machine()
    meta["packages"]["litellm"] = litellm_version() if args.litellm else None
    with tempfile.TemporaryDirectory(prefix="airelay-before-") as tree:
        args.before_tree = checkout(args.before, Path(tree)) if args.before else None
        results = run_all(args, scenarios)
    meta["load_after"] = report.load_average()
    config = {k: v for k, v in vars(args).items() if k not in ("only", "before_tree")} | {
        "chunks": CHUNKS,
        "max_tokens": MAX_TOKENS,
        "model": MODEL,
        "price_per_million": PRICE,
        "scenarios": [s.key for s in scenarios],
    }
    document = {"meta": meta, "config": config, "references": REFERENCES, "notes": notes, "scenarios": results}
    document["targets"] = overhead_targets.targets(document)
    for path in report.write(document):
        print(f"wrote {path}")
    return document


def checkout(revision: str, into: Path) -> Path:
    """The tree of `revision` (`git archive`), as the earlier airelay to run beside this checkout."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    model = ROOT / "functions" / "classify" / "model"  # made by `make models`, never committed
    if model.is_dir():
        shutil.copytree(model, into / "functions" / "classify" / "model", dirs_exist_ok=True)
    return into


def main(argv: list[str]) -> int:
    try:
        document = run(argv)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", flush=True)
        return 130
    except RuntimeError as error:
        print(f"benchmark aborted: {error}", flush=True)
        return 2
    print()
    print(report.text(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
