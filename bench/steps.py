"""Text-only chat before and after the typed provider stream and the steps loop, in one run; CPU per tool step.

Three airelay processes stream from fake upstreams on loopback: `before` runs an earlier revision's local API, its
functions and its airelay package (`git archive REV`, run from there), `now` this checkout, both answering text only (20 chunks);
`tools` this checkout with a model that calls a tool in every step, CHAT_MAX_STEPS steps per chat. Each round
measures direct, before, now and tools at c=1, in an order that rotates; medians over rounds of paired values.

    python -m bench.steps [--quick] [--rounds 5] [--before REV] [--steps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from . import report
from .client import post_request
from .load import Target
from .overhead import run_side
from .overhead_scenarios import AIRELAY_KEY, CHUNKS, MAX_TOKENS, MESSAGE, MODEL, Scenario, airelay_env, openai_target
from .servers import HOST, ROOT, Server, start_airelay, start_upstream, status_of
from .stats import median, minus, paired, ratio

SCENARIO = Scenario("stream_c1", True, 1, 0.0)
TYPED_STREAM_COMMIT = "Chat providers yield typed events"  # the first commit of the change measured
TOOL_CALL = {
    "tool_calls": [
        {"index": 0, "id": "call_b", "type": "function", "function": {"name": "echo", "arguments": '{"text": "hi"}'}}
    ]
}
SIDES = ("direct", "before", "now", "tools")
WITHIN = 0.10  # text-only chat's added latency, TTFT and CPU may grow this much


def before_revision() -> str:
    """The parent of the typed-stream commit: airelay as it was before this change."""
    found = subprocess.run(
        ["git", "log", "--format=%H", "-1", f"--grep={TYPED_STREAM_COMMIT}"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not found:
        raise RuntimeError("the typed-stream commit is not in this history: pass --before REV")
    return f"{found}^"


def export_revision(revision: str, into: Path) -> Path:
    """The revision's local API, functions, template and package: the functions added since (the OpenAI one) would
    not import on its package."""
    into.mkdir(parents=True, exist_ok=True)
    parts = ["layers/core", "local", "functions", "template.yaml"]
    archive = subprocess.run(["git", "archive", revision, *parts], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def stream_target(name: str, port: int) -> Target:
    request = post_request(HOST, port, "/api/chat/stream", {"message": MESSAGE, "max_tokens": MAX_TOKENS}, AIRELAY_KEY)
    return Target(
        name,
        port,
        request,
        lambda r: r.status == 200 and r.body.endswith(b"data: [DONE]\n\n") and b'"type":"finish"' in r.body,
        first_text=lambda event: event.get("type") in ("text-delta", "tool-input-start"),
    )


def start_tools_upstream() -> Server:
    behaviour = json.dumps({"type": "Deltas", "deltas": [TOOL_CALL], "finish": "tool_calls"})
    behaviour = behaviour.replace("{", "{{").replace("}", "}}")  # Server formats its arguments with the port
    server = Server(
        "upstream (a tool call)", ["-m", "tests.support.upstream", "--port", "{port}", "--behaviour", behaviour]
    )
    server.wait_ready(lambda: status_of("GET", f"{server.url}/v1/models") == 200)
    return server


async def measure_rounds(servers: dict[str, Server], upstreams: dict[str, Server], args) -> list[dict]:
    targets = {"direct": openai_target("direct", upstreams["text"].port, True)}
    targets |= {side: stream_target(side, servers[side].port) for side in ("before", "now", "tools")}
    rounds = []
    for number in range(1, args.rounds + 1):
        shift = (number - 1) % len(SIDES)
        this_round = {}
        for side in SIDES[shift:] + SIDES[:shift]:
            upstream = upstreams["tools" if side == "tools" else "text"]
            watched = {"upstream": upstream} | ({"gateway": servers[side]} if side in servers else {})
            this_round[side] = result = await run_side(SCENARIO, targets[side], watched, args)
            cpu = result.get("gateway_cpu_ms_per_request")
            print(
                f"  round {number} {side:<7} {result['requests']:>5} ok {result['errors']} err"
                f"  p50 {result['total_p50_ms'] or 0:7.2f} ms  TTFT p50 {result['first_text_p50_ms'] or 0:7.2f} ms"
                + (f"  CPU {cpu:.2f} ms/req" if cpu is not None else ""),
                flush=True,
            )
        rounds.append(this_round)
    return rounds


def summarize(rounds: list[dict], steps: int) -> dict:
    def added(side: str, metric: str) -> float | None:
        return paired([r["direct"][metric] for r in rounds], [r[side][metric] for r in rounds], minus)

    summary = {}
    for side in ("before", "now"):
        summary[side] = {
            "added_total_p50_ms": added(side, "total_p50_ms"),
            "added_ttft_p50_ms": added(side, "first_text_p50_ms"),
            "cpu_ms_per_request": median([r[side]["gateway_cpu_ms_per_request"] for r in rounds]),
            "errors": sum(r[side]["errors"] for r in rounds),
        }

    def now_over_before(metric: str) -> float | None:
        per_round = []
        for r in rounds:
            if metric == "cpu":
                per_round.append((r["before"]["gateway_cpu_ms_per_request"], r["now"]["gateway_cpu_ms_per_request"]))
            else:
                d = r["direct"][metric]
                per_round.append((r["before"][metric] - d, r["now"][metric] - d))
        return paired([b for b, _ in per_round], [n for _, n in per_round], ratio)

    summary["now_over_before"] = {
        "added_total_p50": now_over_before("total_p50_ms"),
        "added_ttft_p50": now_over_before("first_text_p50_ms"),
        "cpu_per_request": now_over_before("cpu"),
    }
    tools_cpu = median([r["tools"]["gateway_cpu_ms_per_request"] for r in rounds])
    summary["tools"] = {
        "steps_per_chat": steps,
        "cpu_ms_per_chat": tools_cpu,
        "cpu_ms_per_tool_step": tools_cpu / steps if tools_cpu is not None else None,
        "total_p50_ms_per_chat": median([r["tools"]["total_p50_ms"] for r in rounds]),
        "errors": sum(r["tools"]["errors"] for r in rounds),
    }
    return summary


def run(argv: list[str]) -> dict:
    args = parse_args(argv)
    revision = args.before or before_revision()
    servers: list[Server] = []
    with tempfile.TemporaryDirectory() as scratch:
        old = export_revision(revision, Path(scratch) / "before")
        try:
            text = start_upstream(0.0, CHUNKS)
            tools_upstream = start_tools_upstream()
            servers += [text, tools_upstream]
            env = airelay_env(scratch, [])
            gateways = {
                "before": start_airelay(text, MODEL, env, AIRELAY_KEY, tree=old),
                "now": start_airelay(text, MODEL, env, AIRELAY_KEY),
                "tools": start_airelay(
                    tools_upstream,
                    MODEL,
                    env
                    | {
                        "TOOLS_MODULE": "bench.tools",
                        "CHAT_TOOLS": "assistant=echo",
                        "CHAT_MAX_STEPS": str(args.steps),
                    },
                    AIRELAY_KEY,
                ),
            }
            servers += gateways.values()
            with asyncio.Runner() as runner:
                rounds = runner.run(measure_rounds(gateways, {"text": text, "tools": tools_upstream}, args))
        finally:
            for server in reversed(servers):
                server.stop()
    meta = report.machine()
    meta["load_after"] = report.load_average()
    document = {
        "benchmark": "steps",
        "meta": meta,
        "config": vars(args) | {"before": revision, "chunks": CHUNKS},
        "rounds": rounds,
        "summary": summarize(rounds, args.steps),
    }
    stamp = meta["date_utc"].replace("-", "").replace(":", "")
    for name in (f"steps-{stamp}.json", "steps-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["summary"], indent=2))
    return document


def section_lines(document: dict) -> list[str]:
    """The report's lines: before and now side by side, and what a tool step costs."""
    summary, config = document["summary"], document["config"]
    rows = [
        (
            side,
            f"{summary[side]['added_total_p50_ms']:.2f}",
            f"{summary[side]['added_ttft_p50_ms']:.2f}",
            f"{summary[side]['cpu_ms_per_request']:.2f}",
        )
        for side in ("before", "now")
    ]
    ratios = summary["now_over_before"]
    rows.append(
        ("now / before", *(f"{ratios[k]:.3f}x" for k in ("added_total_p50", "added_ttft_p50", "cpu_per_request")))
    )
    tools = summary["tools"]
    return [
        f"Streamed text-only chat (20 chunks, c=1, instant upstream), {config['rounds']} rounds, medians of values "
        f"paired within a round; `before` is airelay at {config['before']}.",
        "",
        *report.md_table(("airelay", "added p50 ms", "added TTFT p50 ms", "CPU ms/request"), rows),
        "",
        f"A chat whose model calls a tool in every step ({tools['steps_per_chat']} steps): "
        f"{tools['cpu_ms_per_chat']:.2f} ms CPU per chat, {tools['cpu_ms_per_tool_step']:.2f} ms per tool step "
        f"(upstream call, tool-call parts, the tool, the next request), p50 {tools['total_p50_ms_per_chat']:.1f} ms.",
        "",
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.steps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of direct/before/now/tools (default 5)")
    parser.add_argument("--requests", type=int, default=500, help="measured requests per run (default 500)")
    parser.add_argument("--seconds", type=float, default=4.0, help="time bound of every measured run (default 4)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests before each run (default 50)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="time bound of each warm-up (default 1)")
    parser.add_argument("--before", help="the revision to compare with (default: before the typed stream)")
    parser.add_argument("--steps", type=int, default=3, help="CHAT_MAX_STEPS of the tools side (default 3)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 150 requests, 2 s runs: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.seconds, args.warmup, args.warmup_seconds = 2, 150, 2.0, 20, 0.5
    return args


if __name__ == "__main__":
    run(sys.argv[1:])
