"""The cold-start benchmark's table (bench/coldstart.py): per function, each phase before -> after."""

from __future__ import annotations

from . import coldstart_build, report

TREES = ("before", "after")

HEADERS = (
    "function",
    "import ms",
    "INIT ms",
    "restore ms",
    "first answer ms",
    "warm answer ms",
    "first / warm CPU ms",
    "first <= 50 ms",
)


def table_rows(rows: list[dict]) -> list[tuple[str, ...]]:
    def ms(value) -> str:
        return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"

    def pair(row, phase) -> str:
        return f"{ms(row[f'before_{phase}'])} -> {ms(row[f'after_{phase}'])}"

    return [
        (
            r["function"],
            pair(r, "import_ms"),
            pair(r, "init_ms"),
            ms(r["after_restore_ms"]),
            pair(r, "first_ms"),
            pair(r, "warm_ms"),
            " -> ".join(f"{ms(r[f'{tree}_first_cpu_ms'])} / {ms(r[f'{tree}_warm_cpu_ms'])}" for tree in TREES),
            report.judged(r["passed"]),
        )
        for r in rows
    ]


def text(document: dict) -> str:
    lines = [
        f"cold start, {document['base']} -> current tree (median of {document['runs']} runs; load "
        f"{document['meta']['load_before']} -> {document['meta'].get('load_after')})",
        *report.aligned(HEADERS, table_rows(document["functions"])),
    ]
    for r in document["functions"]:
        lines += [f"  {r['function']} ({tree}): {r[f'{tree}_error'][:300]}" for tree in TREES if r[f"{tree}_error"]]
        if not r.get("before_declared", True):
            lines.append(f"  {r['function']}: not in {document['base']}'s template, measured on the current tree only")
    lines.append("  imported by the first answer (after): work INIT left to it")
    lines += [f"    {r['function']}: {', '.join(r['after_first_imported']) or '-'}" for r in document["functions"]]
    if document.get("build"):
        lines += ["", coldstart_build.text(document["build"])]
    elif document.get("build_error"):
        lines.append(f"  package sizes and .pyc: not measured ({document['build_error'].splitlines()[-1]})")
    return "\n".join(lines)
