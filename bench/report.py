"""The benchmarks' shared report parts: the machine measured, bench/results/, and the overhead report's text tables for
the terminal, Markdown and JSON files (its targets: overhead_targets.py)."""

from __future__ import annotations

import json
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


def ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f} ms" if signed else f"{value:.2f} ms"


# ---------------------------------------------------------------- tables


def fmt(value: float | None, metric: str, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "ratio":
        return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"
    if metric == "rps":
        return f"{value:+.1f}" if kind == "added" else f"{value:.1f}"
    return f"{value:+.2f}" if kind == "added" else f"{value:.2f}"


LATENCY_ROWS = {
    False: (("latency p50 ms", "total_p50_ms"), ("latency p95 ms", "total_p95_ms"), ("latency p99 ms", "total_p99_ms")),
    True: (
        ("TTFT p50 ms", "first_text_p50_ms"),
        ("TTFT p95 ms", "first_text_p95_ms"),
        ("TTFT p99 ms", "first_text_p99_ms"),
        ("total p50 ms", "total_p50_ms"),
        ("total p95 ms", "total_p95_ms"),
        ("total p99 ms", "total_p99_ms"),
    ),
}
LATENCY_HEADERS = (
    "scenario",
    "metric",
    "direct",
    "airelay",
    "LiteLLM",
    "airelay added",
    "LiteLLM added",
    "airelay / LiteLLM (added)",
)
THROUGHPUT_HEADERS = (
    "scenario",
    "direct req/s",
    "airelay req/s",
    "LiteLLM req/s",
    "airelay / direct",
    "LiteLLM / direct",
    "airelay / LiteLLM",
)
CPU_HEADERS = (
    "scenario",
    "airelay CPU ms/req (system)",
    "LiteLLM CPU ms/req (system)",
    "one core's req/s: airelay / LiteLLM",
    "% of a core: airelay / LiteLLM",
    "upstream CPU ms/req: direct / airelay / LiteLLM",
    "client % of a core: direct / airelay / LiteLLM",
    "other processes, cores: direct / airelay / LiteLLM",
    "errors: direct / airelay / LiteLLM",
)
TARGET_HEADERS = ("target", "where", "value", "limit", "result", "detail")


def latency_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    for scenario in document["scenarios"].values():
        s = scenario["summary"]
        for i, (label, metric) in enumerate(LATENCY_ROWS[scenario["stream"]]):
            rows.append(
                (
                    scenario["title"] if i == 0 else "",
                    label,
                    *(fmt(s.get(side, {}).get(metric), metric) for side in ("direct", "airelay", "litellm")),
                    *(fmt(s["added"].get(side, {}).get(metric), metric, "added") for side in ("airelay", "litellm")),
                    fmt(s["vs_litellm"].get(metric), metric, "ratio"),
                )
            )
    return rows


def throughput_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    for scenario in document["scenarios"].values():
        s = scenario["summary"]
        rows.append(
            (
                scenario["title"],
                *(fmt(s.get(side, {}).get("rps"), "rps") for side in ("direct", "airelay", "litellm")),
                *(fmt(s["ratio"].get(side, {}).get("rps"), "rps", "ratio") for side in ("airelay", "litellm")),
                fmt(s["vs_litellm"].get("rps"), "rps", "ratio"),
            )
        )
    return rows


def cpu_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    for scenario in document["scenarios"].values():
        s = scenario["summary"]

        def gateway(side: str, s: dict = s) -> str:
            cpu, system = (s.get(side, {}).get(k) for k in ("gateway_cpu_ms_per_request", "gateway_sys_ms_per_request"))
            return "-" if cpu is None else f"{cpu:.2f} ({system:.2f})"

        def each(metric: str, style: str = "ms", s: dict = s) -> str:
            return " / ".join(fmt(s.get(side, {}).get(metric), style) for side in ("direct", "airelay", "litellm"))

        rows.append(
            (
                scenario["title"],
                gateway("airelay"),
                gateway("litellm"),
                " / ".join(
                    fmt(one_core_rps(s.get(side, {}).get("gateway_cpu_ms_per_request")), "rps")
                    for side in ("airelay", "litellm")
                ),
                " / ".join(fmt(s.get(side, {}).get("gateway_cpu_pct"), "rps") for side in ("airelay", "litellm")),
                each("upstream_cpu_ms_per_request"),
                each("client_cpu_pct", "rps"),
                each("other_processes_cores"),
                " / ".join(str(s["errors"].get(side, "-")) for side in ("direct", "airelay", "litellm")),
            )
        )
    return rows


def target_rows(rows: list[dict]) -> list[tuple[str, ...]]:
    out = []
    for t in rows:
        unit = t["unit"]
        value = (
            "-" if t["value"] is None else (f"{t['value']:.2f}{unit}" if unit == "x" else f"{t['value']:.2f} {unit}")
        )
        limit = ("<= " if t["at_most"] else ">= ") + (
            f"{t['limit']:g}{unit}" if unit == "x" else f"{t['limit']:g} {unit}"
        )
        out.append((t["target"], t["where"], value.strip(), limit.strip(), judged(t["passed"]), t["detail"]))
    return out


def one_core_rps(cpu_ms_per_request: float | None) -> float | None:
    """The most requests per second a gateway's one event loop could serve with a whole core to itself."""
    return 1000 / cpu_ms_per_request if cpu_ms_per_request else None


def header_line(document: dict) -> str:
    m, c = document["meta"], document["config"]
    litellm = m["packages"].get("litellm")
    return (
        f"gateway overhead, {m['date_utc']}: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"LiteLLM {litellm or 'not measured'}, load {m['load_before']} -> {m.get('load_after')}; "
        f"{c['rounds']} rounds, medians over rounds; c=1 runs: {c['requests']} requests or {c['seconds']:g} s; "
        f"c=16/64 runs: {c['seconds']:g} s; each after a warm-up of {c['warmup']} requests or "
        f"{c['warmup_seconds']:g} s"
    )


def text(document: dict) -> str:
    lines = [
        header_line(document),
        *document.get("notes", ()),
        "",
        "Targets",
        *aligned(TARGET_HEADERS, target_rows(document["targets"])),
        "",
        "Latency (ms; added = gateway - direct)",
        *aligned(LATENCY_HEADERS, latency_rows(document)),
        "",
        "Throughput",
        *aligned(THROUGHPUT_HEADERS, throughput_rows(document)),
        "",
        "CPU per measured request",
        *aligned(CPU_HEADERS, cpu_rows(document)),
    ]
    return "\n".join(lines)


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


def markdown_sections(document: dict, level: str = "##") -> list[str]:
    """The tables, as Markdown; also used by bench/results/report.md."""
    return [
        f"{level} Targets",
        "",
        *md_table(TARGET_HEADERS, target_rows(document["targets"])),
        "",
        f"{level} Latency",
        "",
        "Milliseconds; added = gateway - direct, paired within a round; the last column is "
        "airelay's added latency divided by LiteLLM's.",
        "",
        *md_table(LATENCY_HEADERS, latency_rows(document)),
        "",
        f"{level} Throughput",
        "",
        *md_table(THROUGHPUT_HEADERS, throughput_rows(document)),
        "",
        f"{level} CPU per measured request",
        "",
        *md_table(CPU_HEADERS, cpu_rows(document)),
        "",
    ]


def meta_lines(document: dict) -> list[str]:
    m = document["meta"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return [
        f"- date (UTC): {m['date_utc']}",
        f"- machine: `nproc` = {m['nproc']}, CPU: {m['cpu_model']}, {m['platform']}",
        f"- Python {m['python']}; {packages}",
        f"- load average before / after: {m['load_before']} / {m.get('load_after')}",
        f"- code: commit {m['git']['commit']}, {len(m['git']['changed_files'])} changed files under test"
        + (f" ({', '.join(m['git']['changed_files'])})" if m["git"]["changed_files"] else ""),
        f"- {header_line(document).split('; ', 1)[1]}",
        *(f"- {note}" for note in document.get("notes", ())),
    ]


def markdown(document: dict) -> str:
    lines = [
        "# Gateway overhead: airelay and LiteLLM over the same upstream",
        "",
        *meta_lines(document),
        "",
        *markdown_sections(document),
        "## References",
        "",
        *(f"- {what}" for what in document["references"].values()),
        "",
    ]
    return "\n".join(lines)


def write(document: dict) -> list[Path]:
    RESULTS.mkdir(exist_ok=True)
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    data = json.dumps(document, indent=2) + "\n"
    paths = [RESULTS / f"overhead-{stamp}.json", RESULTS / "overhead-latest.json", RESULTS / "overhead-latest.md"]
    paths[0].write_text(data)
    paths[1].write_text(data)
    paths[2].write_text(markdown(document))
    return paths
