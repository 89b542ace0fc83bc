"""bench/results/report.md: every benchmark of one `make bench` run, its targets PASS/FAIL, the charts and the
machine the numbers came from."""

from __future__ import annotations

from pathlib import Path

from . import coldstart, coldstart_build, coldstart_report, overhead_report, report, tail
from .servers import LITELLM_CONFIG
from .summary_targets import all_targets

REPORT = report.RESULTS / "report.md"
SECTION_TITLES = {
    "overhead": "Gateway overhead: airelay and LiteLLM over the same upstream",
    "upstream_client": "The upstream call: the OpenAI SDK's way and without it",
    "steps": "Text-only chat before and after the steps loop; CPU per tool step",
    "ledger": "Usage ledger",
    "tail": "Tail latency: the SQLite ledger's file on disk and in memory",
    "tokens": "Token estimation",
    "faq": "FAQ bot",
    "sentiment": "Sentiment (local model)",
    "classify": "Image classification (local model)",
    "coldstart": "Cold start: import, INIT, SnapStart restore, first answer; package size",
    "scale": "Budgets at scale (simulated)",
}


def overhead_section(document: dict) -> list[str]:
    config = LITELLM_CONFIG.format(
        model="bench-model",
        api_base="http://127.0.0.1:<upstream port>/v1",
        master_key="sk-bench-<random per run>",
        input_per_token=1.5e-7,
        output_per_token=6e-7,
    )
    return [
        *overhead_report.meta_lines(document),
        "",
        "How: a fake OpenAI-compatible upstream (`tests.support.upstream`, 20 chunks per stream) on 127.0.0.1, "
        "answering at once or after 50 ms; the same request sent directly, through airelay (`local.server` under "
        "uvicorn, 1 process, usage metering and budgets on: SQLite ledger, reserve before / settle after every call, "
        "the model priced like gpt-4o-mini; the caller's API key checked, as `API_KEYS` does locally) and through "
        "the LiteLLM proxy (1 uvicorn worker, no database, same upstream and prices, its master key checked); a closed-loop client (one keep-alive connection per concurrent client, uvloop). "
        "Rounds rotate the order of the three; medians over rounds of values paired within a round. "
        "bench/README.md explains every column.",
        "",
        "LiteLLM's configuration (no database, so its spend tracking is what it does in memory: the cost of every "
        "response from the prices below, added to the master key's spend and, through `max_budget`, to its "
        "proxy-wide spend counter; it logs that a budget is not enforced without a database). Environment: "
        "`LITELLM_LOCAL_MODEL_COST_MAP=True` (no price map download), `LITELLM_LOG=WARNING` (no access log, as "
        "airelay), `LITELLM_TELEMETRY=False`. It was checked to start and answer with no network but loopback.",
        "",
        "```yaml",
        config.rstrip(),
        "```",
        "",
        *overhead_report.markdown_sections(document, "###"),
        "### References",
        "",
        *(f"- {what}" for what in document["references"].values()),
        "",
    ]


def upstream_client_section(document: dict) -> list[str]:
    from . import upstream_client

    return [
        upstream_client.__doc__.split("\n\n", 1)[0].replace("\n", " "),
        "",
        "```",
        upstream_client.table(document["ways"]),
        "```",
        "",
    ]


def steps_section(document: dict) -> list[str]:
    from .steps import section_lines

    return section_lines(document)


def ledger_section(document: dict) -> list[str]:
    from .ledger import client_cpu_line, leases_line, limits_table, round_trip_line, table
    from .ledger_previous import first_use_line

    about = [f"- {name}: {r['about']}" for name, r in document["ledgers"].items() if "about" in r]
    return [
        "Each ledger after 50 warm-up calls: `reserve` + `settle` through the adapter, and the meter's `open` + "
        "`close` as a request pays for it (worker-thread hops included); for DynamoDB, one GetItem round trip "
        "is the server's own floor. moto and dynalite are local DynamoDB stand-ins, not DynamoDB: their latency "
        "is theirs.",
        "",
        table(document["ledgers"]),
        "",
        *about,
        "",
        round_trip_line(document["ledgers"]),
        "",
        leases_line(document["ledgers"]),
        "",
        "The per-minute limits (requests and tokens per identity) checked with the budgets, against the same "
        "ledger in the same run, rounds alternating: the meter's open + close with them off and on.",
        "",
        limits_table(document["ledgers"]),
        "",
        client_cpu_line(document.get("client_cpu")),
        "",
        first_use_line(document.get("first_use")),
        "",
    ]


def tokens_section(document: dict) -> list[str]:
    from . import tokens

    return [
        tokens.__doc__.split("\n\n", 1)[0].replace("\n", " "),
        "",
        *report.md_table(tokens.TIMING_HEADERS, tokens.table_rows(document)),
        "",
        *report.md_table(tokens.ACCURACY_HEADERS, tokens.accuracy_rows(document)),
        "",
        tokens.summary_line(document),
        "",
    ]


def faq_section(document: dict) -> list[str]:
    a = document["accuracy"]
    headers = (
        "entries",
        "object MB",
        "load ms",
        "index MB",
        "match p50 ms",
        "match p99 ms",
        "exact scan p50 ms",
        "exact scan p99 ms",
        "same best as exact",
        "method",
    )
    rows = [
        (
            f"{r['entries']:,}",
            f"{r['object_bytes'] / 2**20:.1f}",
            f"{r['load_ms']:.1f}",
            f"{r['index_memory_mb']:.1f}",
            f"{r['match_p50_ms']:.3f}",
            f"{r['match_p99_ms']:.3f}",
            f"{r['exact_scan_p50_ms']:.3f}",
            f"{r['exact_scan_p99_ms']:.3f}",
            f"{r['same_best_as_exact']:.1%}",
            r["method"],
        )
        for r in document["scale"]
    ]
    return [
        f"- model {a['model']}, {a['entries']} entries, threshold {a['threshold']}",
        f"- top-1 accuracy: dev {a['dev']['top1_accuracy']:.1%} of {a['dev']['questions']}, held-out "
        f"{a['holdout']['top1_accuracy']:.1%} of {a['holdout']['questions']}; off-topic sent to the chat model "
        f"{a['off_topic']['fallback_rate']:.1%}; embedding calls per question {a['embedding_calls_per_question']:g} "
        f"(the tutorial: {a['tutorial_embedding_calls_per_question']})",
        "",
        *report.md_table(headers, rows),
        "",
    ]


def sentiment_section(document: dict) -> list[str]:
    acc, lat = document["accuracy"], document["latency"]
    return [
        f"- model {document['model']}: accuracy Korean {acc['ko']['accuracy']:.1%} (n={acc['ko']['n']}), "
        f"English {acc['en']['accuracy']:.1%} (n={acc['en']['n']}), overall {acc['overall']:.1%}",
        f"- per text (model) p50 {lat['model_per_text']['p50_ms']} ms, p99 {lat['model_per_text']['p99_ms']} ms; "
        f"per request (Lambda handler) p50 {lat['handler_per_request']['p50_ms']} ms, "
        f"p99 {lat['handler_per_request']['p99_ms']} ms",
        f"- load {document['load_s']} s, peak memory {document['peak_rss_mb']} MB",
        "",
    ]


def classify_section(document: dict) -> list[str]:
    lat = document["latency"]
    return [
        f"- model {document['model']} ({document['threads']} CPUs): coffee photo top-1 "
        f"{document['top1_coffee']['label']} {document['top1_coffee']['score']:.3f}",
        *(
            f"- {label}: p50 {lat[key]['p50_ms']} ms, p99 {lat[key]['p99_ms']} ms (n={lat[key]['n']})"
            for label, key in (
                ("per image 224 x 224", "model_224x224"),
                ("per image 600 x 400 with resize", "model_600x400_with_resize"),
                ("per request through the handler (base64 JPEG)", "handler_per_request"),
            )
        ),
        f"- load {document['load_s']} s, peak memory {document['peak_rss_mb']} MB",
        "",
    ]


def coldstart_section(document: dict) -> list[str]:
    what = coldstart.__doc__.split("What is measured, exactly:", 1)[1].strip()
    lines = [
        f"Before ({document['base']}, the start of issue 12) -> after (this tree), median of {document['runs']} "
        f"runs; load average before / after: {document['meta']['load_before']} / {document['meta'].get('load_after')}.",
        "",
        *report.md_table(coldstart_report.HEADERS, coldstart_report.table_rows(document["functions"])),
        "",
        *(
            f"- {r['function']} ({tree}): {r[f'{tree}_error'].splitlines()[-1][:300]}"
            for r in document["functions"]
            for tree in coldstart_report.TREES
            if r[f"{tree}_error"]
        ),
        "",
        "What is measured:",
        "",
        what,
        "",
    ]
    build = document.get("build")
    if build:
        lines += [
            "Package sizes and the import from the sam build, with and without .pyc (bench/coldstart_build.py):",
            "",
            *report.md_table(coldstart_build.HEADERS, coldstart_build.table_rows(build["functions"])),
            "",
            f"sam build: arm64 {build['build_s']['arm64']:.0f} s, x86_64 {build['build_s']['x86_64']:.0f} s; sizes "
            "are of the arm64 build, unzipped, function folder + CoreLayer (Lambda's limit: 250 MiB = 262.1 MB).",
            "",
        ]
    elif document.get("build_error"):
        lines += [f"Package sizes and .pyc: not measured ({document['build_error'].splitlines()[-1]}).", ""]
    return lines


SECTIONS = {
    "overhead": overhead_section,
    "upstream_client": upstream_client_section,
    "steps": steps_section,
    "ledger": ledger_section,
    "tail": tail.markdown,
    "tokens": tokens_section,
    "faq": faq_section,
    "sentiment": sentiment_section,
    "classify": classify_section,
    "coldstart": coldstart_section,
}
CHART_TITLES = {
    "overhead": "Latency percentiles by concurrency",
    "faq": "FAQ match time by index size",
    "coldstart": "Cold start by function",
    "scale": "Budgets at 10,000 paid calls per second, simulated",
}


def write(run: dict, documents: dict, charts: dict[str, Path]) -> Path:
    meta = run["meta"]
    lines = [
        "# airelay benchmarks",
        "",
        f"`make bench`, {meta['date_utc']} (UTC); wall time {run['wall_s'] / 60:.1f} min.",
        "",
        f"- machine: `nproc` = {meta['nproc']}, CPU: {meta['cpu_model']}, {meta['platform']}, Python {meta['python']}",
        f"- load average (1, 5, 15 min) at the start: {meta['load_before']}, at the end: {run['load_after']}; "
        "the machine is shared, so each section also records its own",
        f"- code: commit {meta['git']['commit']}, {len(meta['git']['changed_files'])} changed files under test"
        + (f" ({', '.join(meta['git']['changed_files'])})" if meta["git"]["changed_files"] else ""),
        "",
        "| benchmark | status | seconds | load average before | results |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, section in run["sections"].items():
        status = "ok" if section["ok"] else f"FAILED: {section['error'].splitlines()[-1][:160]}"
        lines.append(
            f"| {name} | {status} | {section['seconds']:.0f} | {section['load_before']} | "
            f"{section.get('file') or '-'} |"
        )
    lines += [
        "",
        "## Targets",
        "",
        *report.md_table(("benchmark", "target", "where", "value", "result"), all_targets(documents)),
        "",
    ]
    if charts:
        lines += ["## Charts", ""]
        lines += [f"![{CHART_TITLES[name]}]({path.name})" for name, path in charts.items()] + [""]
    for name, render in SECTIONS.items():
        lines += [f"## {SECTION_TITLES[name]}", ""]
        if documents.get(name):
            lines += render(documents[name])
        else:
            error = run["sections"].get(name, {}).get("error")
            lines += [f"Not measured in this run{': ' + error.splitlines()[-1] if error else ''}.", ""]
    REPORT.write_text("\n".join(lines))
    return REPORT
