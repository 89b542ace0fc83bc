"""The overhead report: a text table for the terminal, Markdown and JSON files in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

REFERENCES = {
    "tutorial_server": "18 req/s at 50 ms upstream, c=16, against 304 direct (same machines)",
    "litellm_proxy": "adds 17.7 ms p50 at c=1; about 50 req/s per worker",
}

LATENCY = ("latency p50 ms", "total_p50_ms"), ("latency p95 ms", "total_p95_ms"), ("latency p99 ms", "total_p99_ms")
FIRST_TEXT = (
    ("TTFT p50 ms", "first_text_p50_ms"), ("TTFT p95 ms", "first_text_p95_ms"), ("TTFT p99 ms", "first_text_p99_ms"))
TOTAL = ("total p50 ms", "total_p50_ms"), ("total p99 ms", "total_p99_ms")
RPS = (("req/s", "rps"),)

# (stream, timed) -> the rows worth showing
ROWS = {
    (False, False): (*LATENCY, *RPS),
    (True, False): (*FIRST_TEXT, *TOTAL),
    (False, True): (*RPS, LATENCY[0], LATENCY[2]),
    (True, True): (*RPS, FIRST_TEXT[0], FIRST_TEXT[2], *TOTAL),
}

MAIN_HEADERS = ("scenario", "metric", "direct", "airelay", "added", "ratio", "target", "result")
CPU_HEADERS = ("scenario", "airelay CPU ms/req", "of which system", "one core's req/s", "airelay % of a core",
               "upstream CPU ms/req (direct / via airelay)", "client % of a core (direct / airelay)",
               "other processes, cores (direct / airelay)", "errors (direct / airelay)")


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
        "packages": {name: version_of(name) for name in ("uvicorn", "uvloop", "httptools", "fastapi", "starlette",
                                                         "openai", "httpx2", "pydantic")},
        "load_before": load_average(),
        "git": git_state(),
    }


def git_state() -> dict:
    """The commit measured, and which files of the code under test differed from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=RESULTS.parent.parent, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = git("status", "--porcelain", "--", "layers", "functions", "local", "template.yaml")
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "changed_files": [line[3:] for line in changed.splitlines()]}


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


def fmt(value: float | None, metric: str, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "ratio":
        return f"{value:.2f}x"
    if metric == "rps":
        return f"{value:+.1f}" if kind == "added" else f"{value:.1f}"
    return f"{value:+.2f}" if kind == "added" else f"{value:.2f}"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def main_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    for scenario in document["scenarios"].values():
        s = scenario["summary"]
        for i, (label, metric) in enumerate(ROWS[(scenario["stream"], scenario["timed"])]):
            judged = metric == s["check"]["metric"]
            rows.append((
                scenario["title"] if i == 0 else "",
                label,
                fmt(s["direct"].get(metric), metric),
                fmt(s["airelay"].get(metric), metric),
                fmt(s["added"].get(metric), metric, "added"),
                fmt(s["ratio"].get(metric), metric, "ratio"),
                s["check"]["label"] if judged else "",
                verdict(s["check"]["passed"]) if judged else "",
            ))
    return rows


def cpu_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    for scenario in document["scenarios"].values():
        s = scenario["summary"]
        rows.append((
            scenario["title"],
            fmt(s["airelay"].get("airelay_cpu_ms_per_request"), "ms"),
            fmt(s["airelay"].get("airelay_sys_ms_per_request"), "ms"),
            fmt(one_core_rps(s["airelay"].get("airelay_cpu_ms_per_request")), "rps"),
            fmt(s["airelay"].get("airelay_cpu_pct"), "rps"),
            both_sides(s, "upstream_cpu_ms_per_request"),
            both_sides(s, "client_cpu_pct", "rps"),
            both_sides(s, "other_processes_cores"),
            f"{s['errors']['direct']} / {s['errors']['airelay']}",
        ))
    return rows


def both_sides(summary: dict, metric: str, style: str = "ms") -> str:
    return f"{fmt(summary['direct'].get(metric), style)} / {fmt(summary['airelay'].get(metric), style)}"


def one_core_rps(cpu_ms_per_request: float | None) -> float | None:
    """The most requests per second airelay's one event loop could serve with a whole core to itself."""
    return 1000 / cpu_ms_per_request if cpu_ms_per_request else None


def header_line(document: dict) -> str:
    m, c = document["meta"], document["config"]
    return (f"airelay overhead, {m['date_utc']}: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, "
            f"load {m['load_before']} -> {m.get('load_after')}; {c['rounds']} rounds, medians over rounds; "
            f"c=1 runs: {c['requests']} requests or {c['seconds']:g} s; c=16 runs: {c['seconds']:g} s")


def text(document: dict) -> str:
    lines = [header_line(document), "", *aligned(MAIN_HEADERS, main_rows(document)), "",
             "CPU per measured request", *aligned(CPU_HEADERS, cpu_rows(document)), "", "References (same machines):"]
    lines += [f"  {name}: {what}" for name, what in document["references"].items()]
    return "\n".join(lines)


def aligned(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]

    def render(row) -> str:  # the two label columns to the left, numbers to the right
        return "  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    return [line.rstrip() for line in (render(headers), render(tuple("-" * w for w in widths)), *map(render, rows))]


def markdown(document: dict) -> str:
    m = document["meta"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    lines = [
        "# airelay overhead over its upstream", "",
        f"- date (UTC): {m['date_utc']}",
        f"- machine: `nproc` = {m['nproc']}, CPU: {m['cpu_model']}, {m['platform']}",
        f"- Python {m['python']}; {packages}",
        f"- load average before / after: {m['load_before']} / {m.get('load_after')}",
        f"- code: commit {m['git']['commit']}, {len(m['git']['changed_files'])} changed files under test"
        + (f" ({', '.join(m['git']['changed_files'])})" if m["git"]["changed_files"] else ""),
        f"- {header_line(document).split('; ', 1)[1]}",
        "- added = airelay - direct, ratio = airelay / direct, both paired within a round, then the median over rounds",
        "",
        *md_table(MAIN_HEADERS, main_rows(document)), "",
        "## CPU per measured request", "",
        *md_table(CPU_HEADERS, cpu_rows(document)), "",
        "## References (same machines)", "",
        *(f"- {name}: {what}" for name, what in document["references"].items()), "",
    ]
    return "\n".join(lines)


def md_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells):
        return "| " + " | ".join(str(c) for c in cells) + " |"
    return [line(headers), line("---" for _ in headers), *map(line, rows)]


def write(document: dict) -> list[Path]:
    RESULTS.mkdir(exist_ok=True)
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    data = json.dumps(document, indent=2) + "\n"
    paths = [RESULTS / f"overhead-{stamp}.json", RESULTS / "overhead-latest.json", RESULTS / "overhead-latest.md"]
    paths[0].write_text(data)
    paths[1].write_text(data)
    paths[2].write_text(markdown(document))
    return paths
