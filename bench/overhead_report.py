"""The overhead benchmark's report: its text tables for the terminal, the Markdown of bench/results/overhead-latest.md
and of its section in report.md, and its JSON files (its targets: overhead_targets.py)."""

from __future__ import annotations

import json
from pathlib import Path

from .report import RESULTS, aligned, judged, md_table


def ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f} ms" if signed else f"{value:.2f} ms"


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
