"""The overhead report: its targets, text tables for the terminal, Markdown and JSON files in bench/results/."""

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

REFERENCES = {
    "litellm_published": "LiteLLM proxy: 12 / 29 / 43 ms added at p50 / p95 / p99 at 1k RPS on 2 instances of 4 CPUs",
    "independent": "independent benchmark: 4.34 ms added for LiteLLM, 2.37 ms for Portkey",
    "same_machines_nov_2026": "LiteLLM 1.108, 1 worker, no database: +17.7 ms p50 / +25 ms p99 buffered at c=1, "
    "about 50 buffered or 21 streamed req/s per worker; the tutorial's FastAPI server: "
    "18 req/s behind a 50 ms upstream at c=16",
}

# The targets of the gateway benchmark (issue 7), and the two earlier ones (c=1 against direct).
LATENCY_SHARE_OF_LITELLM = 0.2
CPU_MS_LIMIT = {False: 3.0, True: 8.0}  # stream -> ms of airelay CPU per request
RPS_TIMES_LITELLM = 5.0
LIMITS_SHARE = 1.10  # airelay with the per-minute limits on, against off: added latency and CPU per request
BEFORE_SHARE = 1.10  # this checkout against an earlier revision (overhead --before): added latency and CPU per request
RPS_SHARE_OF_DIRECT = 0.9
SHARE_OF_LITELLM_V1 = 1 / 8  # issue 14, /v1 at c=1: added latency p50 and p99, and CPU per request
EARLIER = {
    "buffered_c1": ("total_p50_ms", 2.0, "added latency p50 <= 2 ms"),
    "stream_c1": ("first_text_p50_ms", 3.0, "added TTFT p50 <= 3 ms"),
}

NAMES = {"direct": "direct", "airelay": "airelay", "litellm": "LiteLLM", "floor": "bare relay"}
CPU_TIMES_FLOOR = 3.0  # issue 14: airelay's CPU per request at most 3x a bare Python relay's


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


# ---------------------------------------------------------------- targets


def judged(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def target(
    label: str, where: str, value: float | None, limit: float, at_most: bool, detail: str, unit: str = ""
) -> dict:
    passed = None if value is None else (value <= limit if at_most else value >= limit)
    return {
        "target": label,
        "where": where,
        "value": value,
        "limit": limit,
        "at_most": at_most,
        "unit": unit,
        "detail": detail,
        "passed": passed,
    }


def ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f} ms" if signed else f"{value:.2f} ms"


def targets(document: dict) -> list[dict]:
    """Every target of the overhead benchmark, evaluated on the medians of this run."""
    scenarios = document["scenarios"]
    rows = []
    for s in scenarios.values():  # added latency against LiteLLM's, instant upstream, every concurrency
        if s["upstream_delay_s"]:
            continue
        summary, what = s["summary"], "TTFT" if s["stream"] else "latency"
        for p in (50, 99):
            metric = f"{s['latency']}_p{p}_ms"
            ours, theirs = (summary["added"].get(g, {}).get(metric) for g in ("airelay", "litellm"))
            rows.append(
                target(
                    f"added {what} p{p} <= 1/5 of LiteLLM's",
                    s["title"],
                    summary["vs_litellm"].get(metric),
                    LATENCY_SHARE_OF_LITELLM,
                    True,
                    f"airelay {ms(ours, True)}, LiteLLM {ms(theirs, True)}",
                    "x",
                )
            )
    for s in scenarios.values():  # issue 14's stricter share at c=1: added latency and CPU per request
        if s["upstream_delay_s"] or s["concurrency"] != 1:
            continue
        summary, what = s["summary"], "TTFT" if s["stream"] else "latency"
        for metric, name, figures in (
            (f"{s['latency']}_p50_ms", f"added {what} p50", summary["added"]),
            (f"{s['latency']}_p99_ms", f"added {what} p99", summary["added"]),
            ("gateway_cpu_ms_per_request", "CPU per request", summary),
        ):
            ours, theirs = (figures.get(g, {}).get(metric) for g in ("airelay", "litellm"))
            rows.append(
                target(
                    f"{name} <= 1/8 of LiteLLM's (issue 14)",
                    s["title"],
                    summary["vs_litellm"].get(metric),
                    SHARE_OF_LITELLM_V1,
                    True,
                    f"airelay {ms(ours)}, LiteLLM {ms(theirs)}",
                    "x",
                )
            )
    for stream, limit in CPU_MS_LIMIT.items():  # CPU per request, the worst scenario of each kind
        kind = [s for s in scenarios.values() if s["stream"] == stream and "airelay" in s["summary"]["sides"]]
        ours = [(s["summary"]["airelay"]["gateway_cpu_ms_per_request"], s["title"]) for s in kind]
        ours = [(v, t) for v, t in ours if v is not None]
        theirs = [
            s["summary"]["litellm"]["gateway_cpu_ms_per_request"] for s in kind if "litellm" in s["summary"]["sides"]
        ]
        theirs = [v for v in theirs if v is not None]
        worst = max(ours) if ours else (None, "-")
        detail = (
            f"worst: {worst[1]}; LiteLLM {min(theirs):.1f}-{max(theirs):.1f} ms" if theirs else f"worst: {worst[1]}"
        )
        rows.append(
            target(
                f"airelay CPU per {'20-chunk stream' if stream else 'buffered request'} <= {limit:g} ms",
                f"all {len(ours)} {'stream' if stream else 'buffered'} scenarios",
                worst[0],
                limit,
                True,
                detail,
                "ms",
            )
        )
    for s in scenarios.values():  # throughput per worker against LiteLLM's, where both are saturated
        if s["upstream_delay_s"] or s["concurrency"] == 1:
            continue
        summary = s["summary"]
        ours, theirs = (summary.get(g, {}).get("rps") for g in ("airelay", "litellm"))
        rows.append(
            target(
                f"req/s per worker >= {RPS_TIMES_LITELLM:g}x LiteLLM's",
                s["title"],
                summary["vs_litellm"].get("rps"),
                RPS_TIMES_LITELLM,
                False,
                f"airelay {fmt(ours, 'rps')}, LiteLLM {fmt(theirs, 'rps')} req/s",
                "x",
            )
        )
    for s in scenarios.values():  # behind a 50 ms upstream, keep up with direct
        if not s["upstream_delay_s"]:
            continue
        summary = s["summary"]
        litellm = summary["ratio"].get("litellm", {}).get("rps")
        rows.append(
            target(
                f"req/s >= {RPS_SHARE_OF_DIRECT:.0%} of direct",
                s["title"],
                summary["ratio"].get("airelay", {}).get("rps"),
                RPS_SHARE_OF_DIRECT,
                False,
                f"airelay {fmt(summary['airelay']['rps'], 'rps')}, direct {fmt(summary['direct']['rps'], 'rps')}"
                f" req/s; LiteLLM {fmt(litellm, 'rps', 'ratio')} of direct",
                "x",
            )
        )
    for s in scenarios.values():  # CPU per request against the bare relay's (bench/floor.py)
        multiple = s["summary"].get("vs_floor", {}).get("gateway_cpu_ms_per_request")
        if multiple is None:
            continue
        ours, floor = (s["summary"].get(g, {}).get("gateway_cpu_ms_per_request") for g in ("airelay", "floor"))
        rows.append(
            target(
                f"CPU per request <= {CPU_TIMES_FLOOR:g}x the bare relay's",
                s["title"],
                multiple,
                CPU_TIMES_FLOOR,
                True,
                f"airelay {fmt(ours, 'rps')} ms, bare relay {fmt(floor, 'rps')} ms",
                "x",
            )
        )
    for key, (metric, limit, label) in EARLIER.items():
        if key in scenarios:
            s = scenarios[key]
            rows.append(
                target(
                    f"{label} (earlier target)",
                    s["title"],
                    s["summary"]["added"].get("airelay", {}).get(metric),
                    limit,
                    True,
                    "",
                    "ms",
                )
            )
    # the per-minute limits on against off, and this checkout against an earlier revision (--before): c=1, same rounds
    rows += paired_targets(
        scenarios,
        "limits_vs_airelay",
        ("airelay_limits", "airelay"),
        LIMITS_SHARE,
        "limit checks add <= {share} to {what}",
        ("with limits", "without"),
    )
    rows += paired_targets(
        scenarios,
        "now_vs_before",
        ("airelay", "airelay_before"),
        BEFORE_SHARE,
        "{what} within {share} of the earlier revision",
        ("now", "before"),
    )
    return rows


# ---------------------------------------------------------------- tables


def paired_targets(scenarios: dict, ratio: str, sides: tuple[str, str], share: float, name: str, words) -> list[dict]:
    """Two targets for each c=1 scenario that ran the two `sides` in the same rounds: the ratio `ratio` of their
    added latency (TTFT for streams) p50 and of their CPU per request, each at most `share`."""
    rows = []
    first, second = words
    for s in scenarios.values():
        vs = s["summary"].get(ratio) or {}
        if s["concurrency"] != 1 or not vs:
            continue
        added = [s["summary"]["added"].get(side, {}) for side in sides]
        cpu = [s["summary"][side]["gateway_cpu_ms_per_request"] for side in sides]
        metric, what = f"{s['latency']}_p50_ms", "TTFT" if s["stream"] else "latency"
        limit = f"{share - 1:.0%}"
        rows.append(
            target(
                name.format(share=limit, what=f"added {what} p50"),
                s["title"],
                vs.get(metric),
                share,
                True,
                f"{first} {ms(added[0].get(metric), True)}, {second} {ms(added[1].get(metric), True)}",
                "x",
            )
        )
        rows.append(
            target(
                name.format(share=limit, what="CPU per request"),
                s["title"],
                vs.get("gateway_cpu_ms_per_request"),
                share,
                True,
                f"{first} {fmt(cpu[0], 'cpu')} ms, {second} {fmt(cpu[1], 'cpu')} ms",
                "x",
            )
        )
    return rows


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
