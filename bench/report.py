"""The benchmarks' shared report parts: the machine measured, bench/results/, PASS/FAIL and the table layouts of the
terminal and of Markdown (the overhead benchmark's own report: overhead_report.py)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

# BENCH_RESULTS_DIR: somewhere else (tests run sections there, without the results of earlier runs)
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results")


# ---------------------------------------------------------------- the machine


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": nproc(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {
            name: version_of(name)
            for name in ("uvicorn", "uvloop", "httptools", "fastapi", "starlette", "openai", "httpx2", "pydantic")
        },
        "load_before": load_average(),
        "git": git_state(),
    }


def git_state() -> dict:
    """The commit measured, and which files of the code under test differed from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=RESULTS.parent.parent, capture_output=True, text=True, timeout=10, check=False
            ).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "layers", "functions", "local", "template.yaml")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or None,
        "changed_files": [line[3:] for line in changed.splitlines()],
    }


def nproc() -> int:
    try:
        return int(subprocess.run(["nproc"], capture_output=True, text=True, timeout=5, check=False).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return len(os.sched_getaffinity(0))


def version_of(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- values


def judged(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


# ---------------------------------------------------------------- tables


def aligned(headers: tuple[str, ...], rows: list[tuple[str, ...]], labels: int = 2) -> list[str]:
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]

    def render(row) -> str:  # the label columns to the left, numbers to the right
        return "  ".join(
            str(v).ljust(w) if i < labels else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))
        )

    return [line.rstrip() for line in (render(headers), render(tuple("-" * w for w in widths)), *map(render, rows))]


def md_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(headers), line("---" for _ in headers), *map(line, rows)]
