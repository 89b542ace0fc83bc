"""The report of `python -m bench.mutation`: numbers per target and every survivor with its verdict."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def verdict_key(file: str, diff: list[str]) -> tuple[str, str, str]:
    """A survivor is named by its file and its changed line before and after, so verdicts outlive line shifts."""
    was = " ".join(line[1:].strip() for line in diff if line.startswith("-"))
    now = " ".join(line[1:].strip() for line in diff if line.startswith("+"))
    return file, was, now


def load_verdicts(path: Path) -> dict[tuple[str, str, str], str]:
    entries = yaml.safe_load(path.read_text()) if path.exists() else None
    return {(e["file"], e["was"].strip(), e["now"].strip()): e["why"] for e in entries or ()}


def write_report(stored: list[dict], verdicts_path: Path, out: Path) -> int:
    """Writes out/mutation.md and out/mutation.json; 1 when a survivor has no verdict (or nothing was run)."""
    verdicts = load_verdicts(verdicts_path)
    lines = [
        "# Mutation testing: surviving mutants",
        "",
        "`python -m bench.mutation` (`make mutation`); verdicts from bench/mutation_verdicts.yaml.",
        "",
        "| target | files | mutants | killed | timed out | survived | clean tests (s) | run (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    survivors, unreviewed = [], []
    totals = [0, 0, 0, 0, 0.0]
    for result in stored:
        found = result["mutants"]
        counts = [sum(m["outcome"] == o for m in found) for o in ("killed", "timeout", "survived")]
        files = ", ".join(result["target"]["files"])
        name = result["target"]["name"] + (f" (stopped, {result['partial']} not run)" if result.get("partial") else "")
        lines.append(
            f"| {name} | {files} | {len(found)} | {counts[0]} | {counts[1]} | {counts[2]} "
            f"| {result['clean_seconds']:.1f} | {result['seconds'] / 60:.1f} |"
        )
        totals = [totals[0] + len(found), *(t + c for t, c in zip(totals[1:4], counts)), totals[4] + result["seconds"]]
        for m in found:
            if m["outcome"] == "survived":
                why = verdicts.get(verdict_key(m["file"], m["diff"]))
                survivors.append((m, why))
                if why is None:
                    unreviewed.append(m)
    lines.append(
        f"| **all** | | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | | {totals[4] / 60:.1f} |",
    )
    lines += ["", f"## Survivors ({len(survivors)}, {len(unreviewed)} without a verdict)", ""]
    for m, why in survivors:
        lines += [
            f"### {m['file']}:{m['line']} — {m['operator'].removeprefix('core/')}",
            "",
            "```diff",
            *m["diff"],
            "```",
            "",
            f"**Verdict:** {why or 'UNREVIEWED: no entry in bench/mutation_verdicts.yaml'}",
            "",
        ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutation.md").write_text("\n".join(lines))
    (out / "mutation.json").write_text(json.dumps(stored, indent=1))
    print("\n".join(lines[4 : 7 + len(stored)]))
    print(f"report: {out / 'mutation.md'}; {len(survivors)} survivors, {len(unreviewed)} without a verdict")
    return 1 if unreviewed or not stored else 0
