"""`make bench` / `python -m bench [--quick] [--only SECTION ...] [--report-only]`: every benchmark, one after the
other, each failing on its own without stopping the others; then the charts, bench/results/report.md and the
summary tables on the terminal.

Sections, in this order (the overhead first, while nothing of ours has warmed the machine up):
overhead (airelay and LiteLLM against direct calls), upstream_client (the upstream call through the OpenAI SDK
and without it), steps (text-only chat before and after the typed stream and the steps loop; CPU per tool step),
ledger, tail (one caller's tail latency with the SQLite ledger's file on disk and in memory), responses_store (what
keeping /v1/responses items costs an answer), tokens, faq, sentiment,
classify, chat_models (the local chat models on a Korean/English dev set), coldstart, soak, visitors (50 visitors with and without an abuser), scale (budgets at 10,000
paid calls a second, simulated), and cost last (the AWS bill, from the durations the sections before it measured).
`python -m bench.<section> --help` runs one with its own options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from datetime import UTC, datetime

from . import charts, overhead_report, report, summary, summary_targets

SECTIONS = (
    "overhead",
    "upstream_client",
    "steps",
    "ledger",
    "tail",
    "responses_store",
    "tokens",
    "faq",
    "sentiment",
    "classify",
    "chat_models",
    "coldstart",
    "soak",
    "visitors",
    "scale",
    "cost",
)


def latest(name: str) -> dict:
    return json.loads((report.RESULTS / f"{name}-latest.json").read_text("utf-8"))


def run_overhead(quick: bool) -> dict:
    from . import overhead

    return overhead.run(["--quick"] if quick else [])


def run_upstream_client(quick: bool) -> dict:
    from . import upstream_client

    return upstream_client.run(["--quick"] if quick else [])


def run_steps(quick: bool) -> dict:
    from . import steps

    return steps.run(["--quick"] if quick else [])


def run_ledger(quick: bool) -> dict:
    from . import ledger, ledger_previous

    document = {
        "benchmark": "ledger",
        "meta": report.machine(),
        "ledgers": ledger.run(0.1 if quick else 1.0),
        "client_cpu": ledger.client_cpu(400 if quick else 2000),
        "first_use": ledger_previous.first_use(3 if quick else 7),
    }
    document["meta"]["load_after"] = report.load_average()
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for name in (f"ledger-{stamp}.json", "ledger-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    return document


def run_tail(quick: bool) -> dict:
    from . import tail

    return tail.run(["--quick"] if quick else [])


def run_responses_store(quick: bool) -> dict:
    from . import responses_store

    return responses_store.run(["--quick"] if quick else [])


def run_tokens(quick: bool) -> dict:
    from . import tokens

    tokens.main(["--quick"] if quick else [])
    return latest("tokens")


def run_faq(quick: bool) -> dict:
    from . import faq

    faq.main(["--sizes", "1000", "10000", "--queries", "100"] if quick else [])  # returns 1 below a target
    return latest("faq")


def run_sentiment(quick: bool) -> dict:
    from . import sentiment

    sentiment.main(["--quick"] if quick else [])
    return latest("sentiment")


def run_classify(quick: bool) -> dict:
    from . import classify

    classify.main(["--quick"] if quick else [])
    return latest("classify")


def run_chat_models(quick: bool) -> dict:
    from . import chat_models

    chat_models.main([])
    return latest("chat_models")


def run_coldstart(quick: bool) -> dict:
    from . import coldstart

    return coldstart.run(["--quick"] if quick else [])


def run_soak(quick: bool) -> dict:
    from . import soak

    return soak.run(["--quick"] if quick else [])


def run_visitors(quick: bool) -> dict:
    from . import visitors

    return visitors.run(["--quick"] if quick else [])


def run_scale(quick: bool) -> dict:
    from . import scale

    return scale.run(["--quick"] if quick else [])


def run_cost(quick: bool) -> dict:
    from . import cost

    return cost.run([])


RUNNERS = {
    "overhead": run_overhead,
    "upstream_client": run_upstream_client,
    "steps": run_steps,
    "ledger": run_ledger,
    "tail": run_tail,
    "responses_store": run_responses_store,
    "tokens": run_tokens,
    "faq": run_faq,
    "sentiment": run_sentiment,
    "classify": run_classify,
    "chat_models": run_chat_models,
    "coldstart": run_coldstart,
    "soak": run_soak,
    "visitors": run_visitors,
    "scale": run_scale,
    "cost": run_cost,
}


def run_sections(names: list[str], quick: bool) -> tuple[dict, dict]:
    documents, sections = {}, {}
    for name in names:
        print(f"\n==> {name}", flush=True)
        started, load = time.perf_counter(), report.load_average()
        try:
            documents[name] = RUNNERS[name](quick)
            sections[name] = {"ok": True, "file": f"{name}-latest.json"}
        except KeyboardInterrupt:
            raise
        except BaseException:
            error = traceback.format_exc()
            print(f"{name} failed:\n{error}", flush=True)
            sections[name] = {"ok": False, "error": error}
        sections[name] |= {"seconds": round(time.perf_counter() - started, 1), "load_before": load}
    return documents, sections


def terminal_summary(documents: dict) -> str:
    from . import (
        classify,
        coldstart,
        cost_report,
        faq,
        ledger,
        ledger_previous,
        scale,
        sentiment,
        tail,
        tokens,
        upstream_client,
    )

    parts = []
    if "overhead" in documents:
        parts.append(overhead_report.text(documents["overhead"]))
    if "upstream_client" in documents:
        parts.append(f"upstream call, CPU per call\n{upstream_client.table(documents['upstream_client']['ways'])}")
    if "ledger" in documents:
        parts.append(
            f"usage ledger\n{ledger.table(documents['ledger']['ledgers'])}\n"
            f"{ledger.round_trip_line(documents['ledger']['ledgers'])}\n"
            f"{ledger.leases_line(documents['ledger']['ledgers'])}\n"
            f"{ledger.limits_table(documents['ledger']['ledgers'])}\n"
            f"{ledger.client_cpu_line(documents['ledger'].get('client_cpu'))}\n"
            f"{ledger_previous.first_use_line(documents['ledger'].get('first_use'))}"
        )
    if "tail" in documents:
        parts.append(f"tail latency, one caller (python -m bench.tail)\n{tail.table(documents['tail'])}")
    if "tokens" in documents:
        parts.append(tokens.text_report(documents["tokens"]))
    if "faq" in documents:
        parts.append(faq.render(documents["faq"]))
    if "sentiment" in documents:
        parts.append(sentiment.text_report(documents["sentiment"]))
    if "classify" in documents:
        parts.append(classify.text_report(documents["classify"]))
    if "coldstart" in documents:
        parts.append(coldstart.text(documents["coldstart"]))
    if "scale" in documents:
        parts.append(scale.text(documents["scale"]))
    if "cost" in documents:
        parts.append(cost_report.text(documents["cost"]))
    rows = summary_targets.all_targets(documents)
    parts.append(
        "All targets\n" + "\n".join(report.aligned(("benchmark", "target", "where", "value", "result"), rows, 3))
    )
    return "\n\n".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every section (about 4 minutes)")
    parser.add_argument(
        "--report-only", action="store_true", help="measure nothing: charts and report.md from the *-latest.json files"
    )
    args = parser.parse_args(argv)
    names = [s for s in SECTIONS if not args.only or s in args.only]
    report.RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    meta = report.machine()
    if args.report_only:
        documents = {n: latest(n) for n in names if (report.RESULTS / f"{n}-latest.json").is_file()}
        sections = {n: {"ok": True, "file": f"{n}-latest.json", "seconds": 0.0, "load_before": "-"} for n in documents}
    else:
        documents, sections = run_sections(names, args.quick)
    drawn = charts.draw(documents, report.RESULTS)
    run = {
        "meta": meta,
        "sections": sections,
        "wall_s": time.perf_counter() - started,
        "load_after": report.load_average(),
    }
    path = summary.write(run, documents, drawn)
    print("\n" + terminal_summary(documents))
    print(
        f"\n{len(sections)} sections in {run['wall_s'] / 60:.1f} min"
        f" ({datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}); load average {os.getloadavg()[0]:.2f}"
    )
    for name, section in sections.items():
        if not section["ok"]:
            print(f"  {name}: FAILED ({section['error'].strip().splitlines()[-1]})")
    print(f"report: {path}; charts: {', '.join(p.name for p in drawn.values()) or 'none'}")
    return 0 if all(s["ok"] for s in sections.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
