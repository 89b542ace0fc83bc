"""The AWS bill per million calls of each capability, beside the same traffic on a LiteLLM deployment sized as its
own docs advise, and the traffic at which the two cost the same (without model tokens, which both pay alike).

    python -m bench.cost [--calls-per-month 10000000] [--tokens chat=600:300] [--memory ChatFunction=1024]
                         [--mix chat_stream=0.45,...] [--set model_tokens_per_second=80] [--docs]

Prices and outside assumptions: bench/cost_prices.csv (value, unit, source URL and date per line, us-east-1; --set
overrides any). Measured here: memory sizes and settings (template.yaml), DynamoDB writes and log lines of a metered
call (the real ledger and meter against a recorder), prompt sizes. Durations come from the other sections' results
(bench/results/*-latest.json); a missing one falls back to the figure in FALLBACK_MS and the table says so.
Writes bench/results/cost-<UTC time>.json, cost-latest.json and cost-by-traffic.png; --docs also rewrites the
generated part of docs/cost.md and docs/cost.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from . import cost_inputs, cost_model, cost_report, report

DEFAULT_TOKENS = {"chat": (600, 300), "chat_stream": (600, 300), "faq_fallback": (None, 150)}  # None: measured
DEFAULT_MIX = {"chat_stream": 0.45, "chat": 0.10, "sentiment": 0.15, "classify": 0.10, "faq": 0.20}
# Used only when a section's results are missing: `make bench` on 2026-12-04 (docs/cost.md), load average 8-13.
FALLBACK_MS = {
    "chat_overhead": 2.0,
    "stream_overhead": 3.0,
    "sentiment": 40.0,
    "classify": 45.0,
    "faq_warm": 20.0,
    "embed": 15.0,
    "restore": 30.0,
    "first_extra": 30.0,
}
FALLBACK_FAQ_ANSWERED = 0.8


@dataclass(frozen=True)
class Measured:
    ms: float
    source: str
    ledger_included: bool  # the measurement already includes the ledger's round trips (moto)


def latest(name: str) -> dict | None:
    path = report.RESULTS / f"{name}-latest.json"
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def stamp(document: dict) -> str:
    meta = document.get("meta", {})
    load = meta.get("load_before", document.get("load_average_before"))
    load = " ".join(f"{x:.1f}" for x in load) if isinstance(load, list) else "?"
    return f"{meta.get('date_utc', document.get('date_utc', '?'))}, load average {load}"


def measured_durations() -> dict[str, Measured]:
    """Every duration the profiles need, from the newest results of the other sections (or FALLBACK_MS)."""
    found: dict[str, Measured] = {}
    if overhead := latest("overhead"):
        for key, scenario in (("chat_overhead", "buffered_c1"), ("stream_overhead", "stream_c1")):
            added = overhead["scenarios"].get(scenario, {}).get("summary", {}).get("added", {}).get("airelay")
            if added and added.get("total_p50_ms") is not None:
                found[key] = Measured(
                    added["total_p50_ms"], f"overhead {scenario}: added p50 ({stamp(overhead)})", False
                )
    cold = latest("coldstart")
    rows = {r["function"]: r for r in cold["functions"]} if cold else {}
    for name, row in rows.items():
        if row.get("after_restore_ms") is not None:
            found[f"restore:{name}"] = Measured(row["after_restore_ms"], f"coldstart restore ({stamp(cold)})", True)
        if row.get("after_first_ms") is not None and row.get("after_warm_ms") is not None:
            extra = max(0.0, row["after_first_ms"] - row["after_warm_ms"])
            found[f"first_extra:{name}"] = Measured(extra, f"coldstart first - warm answer ({stamp(cold)})", True)
    if "ChatFunction" in rows and "chat_overhead" not in found and rows["ChatFunction"].get("after_warm_ms"):
        warm = rows["ChatFunction"]["after_warm_ms"]
        for key in ("chat_overhead", "stream_overhead"):
            found[key] = Measured(warm, f"coldstart ChatFunction warm answer, fake upstream ({stamp(cold)})", True)
    if rows.get("FaqFunction", {}).get("after_warm_ms") is not None:
        found["faq_warm"] = Measured(  # the same question twice: the warm answer embeds nothing and meters nothing
            rows["FaqFunction"]["after_warm_ms"],
            f"coldstart FaqFunction warm answer, cached question ({stamp(cold)})",
            False,
        )
    for name in ("sentiment", "classify"):
        if document := latest(name):
            p50 = document["latency"]["handler_per_request"]["p50_ms"]
            found[name] = Measured(p50, f"{name} handler p50 ({stamp(document)})", False)
            if name == "sentiment":
                embed = document["latency"]["model_per_text"]["p50_ms"]
                found["embed"] = Measured(
                    embed, f"sentiment model per text p50, the FAQ's embedder ({stamp(document)})", False
                )
    for name, ms in FALLBACK_MS.items():
        if name not in ("restore", "first_extra") or not rows:  # per function when coldstart ran
            found.setdefault(name, Measured(ms, "FALLBACK (section not run: see docs/cost.md)", False))
    return found


def faq_fallback_share() -> tuple[float, str]:
    if faq := latest("faq"):
        answered = faq["accuracy"]["holdout"]["answered_from_faq"]
        return 1 - answered, f"faq holdout set: {answered:.0%} answered from the FAQ ({stamp(faq)})"
    return 1 - FALLBACK_FAQ_ANSWERED, "FALLBACK (faq section not run)"


def parse_pairs(text: str, kind=float) -> dict:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
        pairs[name.strip()] = kind(value)
    return pairs


def parse_tokens(text: str) -> dict:
    tokens = {}
    for name, value in parse_pairs(text, str).items():
        prompt, sep, answer = value.partition(":")
        if not (sep and prompt.isdigit() and answer.isdigit()):
            raise argparse.ArgumentTypeError(f"expected NAME=INPUT:OUTPUT tokens, got {name}={value}")
        tokens[name] = (int(prompt), int(answer))
    return tokens


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--calls-per-month", type=float, default=10_000_000, help="all capabilities together")
    parser.add_argument("--mix", type=parse_pairs, default=DEFAULT_MIX, help="route shares, e.g. chat=0.5,faq=0.5")
    parser.add_argument(
        "--tokens",
        type=parse_tokens,
        default={},
        help="chat, chat_stream or faq_fallback input:output, e.g. chat=800:400",
    )
    parser.add_argument("--memory", type=lambda t: parse_pairs(t, int), default={}, help="MB, e.g. ChatFunction=1024")
    parser.add_argument(
        "--set", type=parse_pairs, default={}, help="override price-table values, e.g. peak_to_average=5"
    )
    parser.add_argument("--cpu-factor", type=float, default=1.0, help="Lambda's Arm core time over this machine's")
    parser.add_argument("--waf-rules", type=int, default=None, help="price a WAF web ACL with this many rules")
    parser.add_argument("--docs", action="store_true", help="also rewrite docs/cost.md's tables and docs/cost.png")
    args = parser.parse_args(argv)
    args.tokens = DEFAULT_TOKENS | args.tokens
    return args


def run(argv: list[str]) -> dict:
    args = arguments(argv)
    try:
        prices = cost_model.with_overrides(cost_model.read_prices(), args.set)
        mix = cost_report.route_mix(args.mix, faq_fallback_share()[0])
    except (KeyError, ValueError) as error:
        raise SystemExit(f"python -m bench.cost: {error.args[0]}") from None
    functions = cost_inputs.functions()
    for name, mb in args.memory.items():
        if name not in functions:
            raise SystemExit(f"--memory: template.yaml has no function {name} (it has {', '.join(functions)})")
        functions[name]["memory_mb"] = mb
    durations = measured_durations()
    share, share_source = faq_fallback_share()
    built, details = cost_report.profiles(functions, prices, durations, args)
    document = cost_report.evaluate(built, details, functions, prices, mix, args)
    document["inputs"] = {
        "durations": {k: asdict(v) for k, v in durations.items()},
        "faq_fallback_share": {"value": share, "source": share_source},
        "memory_mb": {name: f["memory_mb"] for name, f in functions.items()},
        "arguments": {k: v for k, v in vars(args).items() if k != "docs"},
        "prices": {k: asdict(v) for k, v in prices.items()},
    }
    document["meta"] = report.machine()
    cost_report.write(document, docs=args.docs)
    return document


def main(argv: list[str]) -> int:
    print(cost_report.text(run(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
