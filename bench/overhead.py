"""What airelay adds on top of its upstream: latency, time to first token, throughput and CPU per request.

Every scenario calls a fake OpenAI-compatible upstream on loopback twice per round, directly and through
airelay (`local.server` under uvicorn, in its own process), with equivalent requests; rounds alternate
direct/airelay because the machine is noisy, and the report shows medians over rounds.

    python -m bench [--quick] [--rounds 3] [--requests 1000] [--seconds 10] [--only stream_c1 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from . import report
from .client import Reply, post_request
from .load import Run, Target, measure
from .servers import HOST, ROOT, Server, machine_busy_ms, start_airelay, start_upstream
from .stats import median, minus, paired, percentile, ratio

MODEL = "bench-model"
MESSAGE = "Say hello in one short sentence."
MAX_TOKENS = 64
CHUNKS = 20
PERSONAS = ROOT / "layers" / "core" / "airelay" / "data" / "personas.json"
# The bench model is priced like gpt-4o-mini so that usage metering runs as for a paid model; the ledger is a
# fresh file per run and the budgets are out of reach, so the benchmark neither touches nor hits real budgets.
PRICE = {"input": "0.15", "cached_input": "0.075", "output": "0.60"}


def airelay_env(ledger_dir: str, overrides: list[str]) -> dict[str, str]:
    env = {"MODEL_PRICES": json.dumps({f"openai/{MODEL}": PRICE}), "USAGE_DB_PATH": f"{ledger_dir}/usage.sqlite3",
           "USAGE_TABLE": "", "DAILY_BUDGET_USD": "1000000", "IDENTITY_DAILY_BUDGET_USD": "1000000"}
    for item in overrides:
        name, _, value = item.partition("=")
        env[name] = value
    return env


@dataclass(frozen=True)
class Check:
    label: str
    of: str  # "added" or "ratio"
    metric: str
    limit: float
    at_most: bool

    def passed(self, summary: dict) -> bool | None:
        value = summary[self.of].get(self.metric)
        if value is None:
            return None
        return value <= self.limit if self.at_most else value >= self.limit


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    stream: bool
    concurrency: int
    upstream_delay_s: float
    timed: bool  # runs for --seconds and is judged on requests/s, else --requests and latency
    check: Check


SCENARIOS = (
    Scenario("buffered_c1", "buffered, c=1, instant upstream", False, 1, 0.0, False,
             Check("added p50 <= 2 ms", "added", "total_p50_ms", 2.0, at_most=True)),
    Scenario("stream_c1", f"stream ({CHUNKS} chunks), c=1, instant upstream", True, 1, 0.0, False,
             Check("TTFT added p50 <= 3 ms", "added", "first_text_p50_ms", 3.0, at_most=True)),
    Scenario("buffered_c16_50ms", "buffered, c=16, 50 ms upstream", False, 16, 0.05, True,
             Check("req/s >= 90 % of direct", "ratio", "rps", 0.90, at_most=False)),
    Scenario("stream_c16_50ms", f"stream ({CHUNKS} chunks), c=16, 50 ms upstream", True, 16, 0.05, True,
             Check("req/s >= 90 % of direct", "ratio", "rps", 0.90, at_most=False)),
)

LATENCY_METRICS = ("total_p50_ms", "total_p95_ms", "total_p99_ms",
                   "first_text_p50_ms", "first_text_p95_ms", "first_text_p99_ms")


def direct_target(port: int, stream: bool) -> Target:
    """The OpenAI request airelay itself sends for MESSAGE: its system prompt, the message, same max_tokens."""
    system = json.loads(PERSONAS.read_text("utf-8"))["assistant"]["system"]
    payload = {"model": MODEL, "max_tokens": MAX_TOKENS,
               "messages": [{"role": "system", "content": system}, {"role": "user", "content": MESSAGE}]}
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    request = post_request(HOST, port, "/v1/chat/completions", payload)
    if stream:
        return Target("direct", port, request, ends_with_done, first_text=has_delta_content)
    return Target("direct", port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


def airelay_target(port: int, stream: bool) -> Target:
    payload = {"message": MESSAGE, "max_tokens": MAX_TOKENS}
    if stream:
        request = post_request(HOST, port, "/api/chat/stream", payload)
        return Target("airelay", port, request, lambda r: ends_with_done(r) and b'"type":"finish"' in r.body,
                      first_text=lambda event: event.get("type") == "text-delta")
    request = post_request(HOST, port, "/api/chat", payload)
    return Target("airelay", port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


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
    run = await measure(target, scenario.concurrency, (args.warmup, args.warmup_seconds), bounds,
                        cpu_now(-1), cpu_now(+1))
    return describe(run, cpu)


def describe(run: Run, cpu: dict[str, float]) -> dict:
    elapsed_ms = run.elapsed_s * 1000
    result = {"requests": run.requests, "errors": run.errors, "elapsed_s": round(run.elapsed_s, 3),
              "rps": run.rps, "client_cpu_pct": 100 * run.client_cpu_s * 1000 / elapsed_ms}
    for p in (50, 95, 99):
        result[f"total_p{p}_ms"] = percentile(run.total_ms, p)
        result[f"first_text_p{p}_ms"] = percentile(run.first_text_ms, p)
    machine = cpu.pop("machine")
    for name, ms in cpu.items():
        result[f"{name}_ms_per_request"] = ms / run.requests if run.requests else None
    if "airelay_cpu" in cpu:
        result["airelay_cpu_pct"] = 100 * cpu["airelay_cpu"] / elapsed_ms
    ours = run.client_cpu_s * 1000 + sum(ms for name, ms in cpu.items() if name.endswith("_cpu"))
    result["other_processes_cores"] = max(0.0, machine - ours) / elapsed_ms  # the machine's noise during the run
    return result


def summarize(scenario: Scenario, rounds: list[dict]) -> dict:
    direct = [r["direct"] for r in rounds]
    relayed = [r["airelay"] for r in rounds]
    summary: dict = {"direct": {}, "airelay": {}, "added": {}, "ratio": {}}
    for metric in ("rps", *LATENCY_METRICS, "client_cpu_pct", "upstream_cpu_ms_per_request",
                   "upstream_sys_ms_per_request", "other_processes_cores"):
        d = [r.get(metric) for r in direct]
        a = [r.get(metric) for r in relayed]
        summary["direct"][metric] = median(d)
        summary["airelay"][metric] = median(a)
        summary["added"][metric] = paired(d, a, minus)
        summary["ratio"][metric] = paired(d, a, ratio)
    for metric in ("airelay_cpu_ms_per_request", "airelay_sys_ms_per_request", "airelay_cpu_pct"):
        summary["airelay"][metric] = median([r.get(metric) for r in relayed])
    summary["errors"] = {"direct": sum(r["errors"] for r in direct), "airelay": sum(r["errors"] for r in relayed)}
    passed = scenario.check.passed(summary)
    summary["check"] = {"label": scenario.check.label, "metric": scenario.check.metric, "passed": passed}
    return summary


async def run_scenario(scenario: Scenario, upstream: Server, airelay: Server, args) -> dict:
    targets = {"direct": direct_target(upstream.port, scenario.stream),
               "airelay": airelay_target(airelay.port, scenario.stream)}
    rounds = []
    for number in range(1, args.rounds + 1):
        this_round = {}
        for side, target in targets.items():
            watched = {"upstream": upstream} if side == "direct" else {"upstream": upstream, "airelay": airelay}
            this_round[side] = result = await run_side(scenario, target, watched, args)
            print(f"  {scenario.key:<18} round {number} {side:<7} {progress(result)}", flush=True)
        rounds.append(this_round)
    return {"title": scenario.title, "concurrency": scenario.concurrency, "stream": scenario.stream,
            "timed": scenario.timed, "upstream_delay_s": scenario.upstream_delay_s, "rounds": rounds,
            "summary": summarize(scenario, rounds)}


def progress(result: dict) -> str:
    line = (f"{result['requests']:>6} ok {result['errors']:>3} err {result['rps']:8.1f} req/s"
            f"  p50 {result['total_p50_ms'] or 0:7.2f} ms")
    if result["first_text_p50_ms"] is not None:
        line += f"  TTFT p50 {result['first_text_p50_ms']:7.2f} ms"
    if result.get("airelay_cpu_ms_per_request") is not None:
        line += f"  airelay CPU {result['airelay_cpu_ms_per_request']:.2f} ms/req ({result['airelay_cpu_pct']:.0f} %)"
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
                airelay = start_airelay(upstream, MODEL, airelay_env(ledger_dir, args.airelay_env))
                servers.append(airelay)
                print(f"upstream pid {upstream.pid} ({upstream.url}), airelay pid {airelay.pid} ({airelay.url})",
                      flush=True)
                for scenario in (s for s in scenarios if s.upstream_delay_s == delay):
                    results[scenario.key] = runner.run(run_scenario(scenario, upstream, airelay, args))
                for server in (airelay, upstream):
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
    parser = argparse.ArgumentParser(prog="python -m bench", description="airelay overhead over its upstream")
    parser.add_argument("--rounds", type=int, default=3, help="direct/airelay pairs per scenario (default 3)")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per c=1 run (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time bound of every measured run (default 10)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests before each run (default 200)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="time bound of each warm-up (default 2)")
    parser.add_argument("--only", nargs="+", choices=[s.key for s in SCENARIOS], help="run only these scenarios")
    parser.add_argument("--airelay-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the airelay process (repeatable)")
    parser.add_argument("--quick", action="store_true", help="1 round, 200 requests, 3 s: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.seconds, args.warmup, args.warmup_seconds = 1, 200, 3.0, 50, 1.0
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    scenarios = [s for s in SCENARIOS if not args.only or s.key in args.only]
    meta = report.machine()
    try:
        results = run_all(args, scenarios)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", flush=True)
        return 130
    except RuntimeError as error:
        print(f"benchmark aborted: {error}", flush=True)
        return 2
    meta["load_after"] = report.load_average()
    config = {k: v for k, v in vars(args).items() if k != "only"} | {
        "chunks": CHUNKS, "max_tokens": MAX_TOKENS, "model": MODEL, "scenarios": [s.key for s in scenarios]}
    document = {"meta": meta, "config": config, "references": report.REFERENCES, "scenarios": results}
    print()
    print(report.text(document))
    for path in report.write(document):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
