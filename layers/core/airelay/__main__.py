"""Command line: `python -m airelay usage [--days 7] [--by model]` prints spend and tokens as a table;
`python -m airelay visitor-token --visitor ID [--ttl 900]` prints a visitor token signed with the configured secret."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from . import aws
from .settings import get_settings
from .visitors import VisitorLimits, mint


def dollars(value: float) -> str:
    """Six decimals, or, where they would round a spend to nothing, its two significant digits."""
    if 0 < value < 0.000001:
        return "$" + format(Decimal(f"{value:.2g}"), "f")
    return f"${value:.6f}"


COLUMNS = [
    ("key", "{}".format),
    ("calls", "{:,}".format),
    ("errors", "{:,}".format),
    ("cancelled", "{:,}".format),
    ("refused", "{:,}".format),
    ("prompt_tokens", "{:,}".format),
    ("completion_tokens", "{:,}".format),
    ("cost_usd", dollars),
    ("cost_krw", "₩{:,.2f}".format),
]


def table(rows: list[dict]) -> str:
    cells = [[name for name, _ in COLUMNS]] + [[shown(row[name]) for name, shown in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not an amount of USD, 0 or more: '{text}'")
    return value


def usage_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .usage import get_meter  # airelay.usage reads the settings when imported: main checked them first
    from .usage.report import MAX_DAYS, build_report

    if not 1 <= args.days <= MAX_DAYS:
        parser.error(f"argument --days: must be between 1 and {MAX_DAYS}")
    meter = get_meter()
    end = datetime.now(UTC).date()
    report = build_report(meter, end - timedelta(days=args.days - 1), end, args.by)
    print(f"usage {report['from']} .. {report['to']} by {report['by']}  (prices: {report['prices']})\n")
    counted = report["rows"] or report["total"]["refused"]  # refusals alone have no row by model
    print(table(report["rows"] + [report["total"]]) if counted else "no calls recorded in this range")
    budget = report["budget"]
    print(
        f"\ntoday: {dollars(budget['used_usd'])} of ${budget['limit_usd']:.2f} used, "
        f"{dollars(budget['remaining_usd'])} left, resets in {budget['resets_in_s'] // 3600}h"
        f"{budget['resets_in_s'] % 3600 // 60:02d}m"
    )
    return 0


def visitor_token_command(args: argparse.Namespace) -> int:
    settings = get_settings()
    secret = settings.visitor_token_secret
    if not secret and settings.visitor_token_secret_param:
        secret = aws.clients().parameters.get(settings.visitor_token_secret_param, decrypt=True)
    if not secret:
        print(
            "set VISITOR_TOKEN_SECRET, or VISITOR_TOKEN_SECRET_PARAM to the SSM parameter holding it", file=sys.stderr
        )
        return 2
    if not 1 <= args.ttl <= settings.visitor_token_max_ttl_s:
        print(
            f"--ttl must be between 1 and VISITOR_TOKEN_MAX_TTL_S ({settings.visitor_token_max_ttl_s})", file=sys.stderr
        )
        return 2
    limits = VisitorLimits(args.rpm, args.tpm, args.usd_per_day)
    try:
        print(mint(secret, args.visitor, settings.visitor_token_audience, args.ttl, limits))
    except ValueError as bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airelay")
    commands = parser.add_subparsers(dest="command", required=True)
    usage = commands.add_parser("usage", help="spend, tokens and refusals by day, model, caller or kind of caller")
    usage.add_argument("--days", type=int, default=7, metavar="N", help="the last N days, today included (default 7)")
    usage.add_argument("--by", choices=["day", "model", "identity", "kind"], default="day")
    token = commands.add_parser("visitor-token", help="a visitor token, as the app's backend mints them")
    token.add_argument("--visitor", required=True, help="the visitor's id: 1-64 letters, digits, '.', '_' or '-'")
    token.add_argument("--ttl", type=int, default=900, help="seconds the token is valid (default 900)")
    token.add_argument("--rpm", type=int, help="this visitor's requests per minute (if lower than the configured)")
    token.add_argument("--tpm", type=int, help="this visitor's tokens per minute (if lower than the configured)")
    token.add_argument(
        "--usd-per-day", type=usd, help="this visitor's spend per UTC day, USD (if lower than the configured)"
    )
    args = parser.parse_args(argv)
    try:
        get_settings()
    except ValueError as bad:  # a setting the functions would refuse at start
        print(f"error: {bad}", file=sys.stderr)
        return 2
    return visitor_token_command(args) if args.command == "visitor-token" else usage_command(args, usage)


if __name__ == "__main__":
    sys.exit(main())
