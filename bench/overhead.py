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
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import overhead_report, overhead_targets, report
from .load import Target, measure
from .overhead_scenarios import (
    AIRELAY_KEY,
    CHUNKS,
    MAX_TOKENS,
    MODEL,
    PRICE,
    SCENARIOS,
    Scenario,
    airelay_env,
    airelay_target,
    openai_target,
)
from .overhead_summary import describe, summarize
from .servers import (
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

# airelay (airelay_env) with the caller's per-minute limits on, high enough never to refuse: every call is checked
# against requests and tokens per minute in the same reservation as its budgets. Measured beside "airelay" in every
# round.
LIMITS_ENV = {"REQUESTS_PER_MINUTE": str(10**9), "TOKENS_PER_MINUTE": str(10**12)}
# With --before REV, airelay of that revision (its whole tree from `git archive`, the same venv) is measured beside
# this checkout's in every round: "airelay_before".

# What LiteLLM is known to add elsewhere, kept in each result beside this run's own figures.
REFERENCES = {
    "litellm_published": "LiteLLM proxy: 12 / 29 / 43 ms added at p50 / p95 / p99 at 1k RPS on 2 instances of 4 CPUs",
    "independent": "independent benchmark: 4.34 ms added for LiteLLM, 2.37 ms for Portkey",
    "same_machines_nov_2026": "LiteLLM 1.108, 1 worker, no database: +17.7 ms p50 / +25 ms p99 buffered at c=1, "
    "about 50 buffered or 21 streamed req/s per worker; the tutorial's FastAPI server: "
    "18 req/s behind a 50 ms upstream at c=16",
}


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
    for path in overhead_report.write(document):
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
    print(overhead_report.text(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
