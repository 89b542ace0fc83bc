"""Command line: `python -m airelay usage [--days 7] [--by model]` prints spend and tokens as a table."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from .usage import get_meter
from .usage.report import MAX_DAYS, build_report

COLUMNS = [
    ("key", "{}"),
    ("calls", "{:,}"),
    ("errors", "{:,}"),
    ("cancelled", "{:,}"),
    ("prompt_tokens", "{:,}"),
    ("completion_tokens", "{:,}"),
    ("cost_usd", "${:.6f}"),
    ("cost_krw", "₩{:,.2f}"),
]


def table(rows: list[dict]) -> str:
    cells = [[name for name, _ in COLUMNS]] + [[fmt.format(row[name]) for name, fmt in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def usage_command(args: argparse.Namespace) -> int:
    meter = get_meter()
    end = datetime.now(UTC).date()
    report = build_report(meter, end - timedelta(days=args.days - 1), end, args.by)
    print(f"usage {report['from']} .. {report['to']} by {report['by']}  (prices: {report['prices']})\n")
    print(table(report["rows"] + [report["total"]]) if report["rows"] else "no calls recorded in this range")
    budget = report["budget"]
    print(
        f"\ntoday: ${budget['used_usd']:.6f} of ${budget['limit_usd']:.2f} used, "
        f"${budget['remaining_usd']:.6f} left, resets in {budget['resets_in_s'] // 3600}h"
        f"{budget['resets_in_s'] % 3600 // 60:02d}m"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airelay")
    commands = parser.add_subparsers(dest="command", required=True)
    usage = commands.add_parser("usage", help="spend and tokens by day, model or caller")
    usage.add_argument("--days", type=int, default=7, choices=range(1, MAX_DAYS + 1), metavar=f"1..{MAX_DAYS}")
    usage.add_argument("--by", choices=["day", "model", "identity"], default="day")
    args = parser.parse_args(argv)
    return usage_command(args)


if __name__ == "__main__":
    sys.exit(main())
