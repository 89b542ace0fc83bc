"""The charts of bench/results/report.md (PNG, matplotlib): latency percentiles by concurrency, FAQ match time by
index size, cold start by function. Each takes the document its benchmark wrote and returns the file it drew."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

COLORS = {"direct": "#7f7f7f", "airelay": "#1f77b4", "litellm": "#d62728"}
NAMES = {"direct": "direct (upstream alone)", "airelay": "airelay", "litellm": "LiteLLM proxy"}
DPI = 110


def milliseconds(value: float, _position: int) -> str:
    return f"{value:g} ms"


def short(value: float) -> str:
    """3 significant digits without an exponent: 0.0948, 2.25, 41, 1630."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def latency_by_concurrency(overhead: dict, path: Path) -> Path:
    """Rows: buffered latency, streamed time to first token; columns: p50, p95, p99; one line per side,
    instant upstream, log scale (direct answers in a tenth of a millisecond, LiteLLM at c=64 in a second)."""
    scenarios = [s for s in overhead["scenarios"].values() if not s["upstream_delay_s"]]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey="row")
    for row, stream in enumerate((False, True)):
        kind = sorted((s for s in scenarios if s["stream"] == stream), key=lambda s: s["concurrency"])
        for col, p in enumerate((50, 95, 99)):
            ax = axes[row][col]
            metric = f"{'first_text' if stream else 'total'}_p{p}_ms"
            for side in ("direct", "airelay", "litellm"):
                points = [
                    (s["concurrency"], s["summary"][side][metric])
                    for s in kind
                    if side in s["summary"]["sides"] and s["summary"][side].get(metric)
                ]
                if not points:
                    continue
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", color=COLORS[side], label=NAMES[side], linewidth=2)
                for x, y in points:
                    ax.annotate(
                        short(y),
                        (x, y),
                        textcoords="offset points",
                        xytext=(0, 7),
                        ha="center",
                        fontsize=8,
                        color=COLORS[side],
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.margins(x=0.08, y=0.12)
            ax.set_xticks([1, 16, 64])
            ax.set_xticklabels(["1", "16", "64"])
            ax.minorticks_off()
            ax.yaxis.set_major_formatter(FuncFormatter(milliseconds))
            ax.grid(True, which="major", alpha=0.3)
            ax.set_title(f"{'stream: time to first token' if stream else 'buffered: latency'} p{p}", fontsize=11)
            if row == 1:
                ax.set_xlabel("concurrent clients")
    axes[0][0].legend(loc="upper left", fontsize=9)
    fig.suptitle("Latency by concurrency, instant upstream on 127.0.0.1 (median over rounds; log scales)", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def faq_match_by_size(faq: dict, path: Path) -> Path:
    rows = sorted(faq["scale"], key=lambda r: r["entries"])
    sizes = [r["entries"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 5))
    series = (
        ("match_p50_ms", "served match p50", "#1f77b4", "-"),
        ("match_p99_ms", "served match p99", "#1f77b4", "--"),
        ("exact_scan_p50_ms", "exact scan p50", "#ff7f0e", "-"),
        ("exact_scan_p99_ms", "exact scan p99", "#ff7f0e", "--"),
    )
    for key, label, color, style in series:
        values = [r[key] for r in rows]
        ax.plot(sizes, values, marker="o", color=color, linestyle=style, label=label, linewidth=2)
        if key == "match_p50_ms":
            for x, y in zip(sizes, values):
                ax.annotate(
                    f"{short(y)} ms",
                    (x, y),
                    textcoords="offset points",
                    xytext=(6, -13),
                    ha="left",
                    fontsize=8,
                    color=color,
                )
    ax.axhline(5.0, color="#2ca02c", linestyle=":", label="target: p50 <= 5 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(x=0.1, y=0.15)
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.yaxis.set_major_formatter(FuncFormatter(milliseconds))
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("FAQ entries in the index (512-dimensional, one row each)")
    ax.set_title("FAQ match time by index size (one question vector, embedding excluded)", fontsize=11)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def coldstart_by_function(coldstart: dict, path: Path) -> Path:
    """Per function: the first answer after INIT before and after (a cold start's cost once SnapStart restores)."""
    rows = [r for r in coldstart["functions"] if r["after_first_ms"] is not None]
    names = [r["function"].removesuffix("Function") for r in rows]
    fig, ax = plt.subplots(figsize=(9, 5))
    height = 0.38
    ys = range(len(rows))
    for offset, tree, label, color in (
        (-height / 2, "before", f"before ({coldstart['base']})", "#bbbbbb"),
        (height / 2, "after", "after (this tree)", "#1f77b4"),
    ):
        values = [r[f"{tree}_first_ms"] or 0 for r in rows]
        bars = ax.barh([y + offset for y in ys], values, height=height, color=color, label=label)
        ax.bar_label(bars, labels=[f"{v:.0f} ms" for v in values], padding=3, fontsize=8)
    ax.axvline(50, color="#d62728", linestyle=":", label="target: 50 ms")
    ax.set_yticks(list(ys))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=100)
    ax.set_xlabel(f"first answer after INIT, median of {coldstart['runs']} runs (ms)")
    ax.set_title("Cold start by function: the first answer after INIT", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def scale_chart(scale: dict, path: Path) -> Path:
    """Per simulated second: paid calls admitted, and write attempts throttled, with budget leases and with today's
    design at the same offered load (10,000 calls a second in the full run)."""
    fig, (admitted, throttled) = plt.subplots(1, 2, figsize=(13, 4.5))
    runs = (("budget leases", scale["leases"], "#1f77b4"), ("today's design", scale["today_same_load"], "#d62728"))
    for name, run, color in runs:
        per_second = run["per_second"]
        admitted.plot(per_second["admitted"][:-1], label=name, color=color)
        throttled.plot(per_second["throttled_writes"][:-1], label=name, color=color)
    offered = scale["leases"]["scenario"]["calls_per_s"]
    admitted.axhline(offered, color="#7f7f7f", linestyle=":", label=f"offered ({offered:,.0f}/s)")
    admitted.set(title="Paid calls admitted per second", xlabel="simulated second", ylabel="calls")
    throttled.set(title="Write attempts throttled per second", xlabel="simulated second", ylabel="attempts")
    for ax in (admitted, throttled):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.text(
        0.5,
        0.005,
        f"{scale['leases']['scenario']['envs']:,} environments; callers' rate limits and budgets and the global budget "
        "refuse calls during the run (admitted falls with them); DynamoDB stand-in: 1,000 WCU / 3,000 RCU per "
        "partition key per second",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw(documents: dict, folder: Path) -> dict[str, Path]:
    """Every chart whose benchmark has a document; a chart that fails does not stop the others."""
    makers = (
        ("overhead", "latency-by-concurrency.png", latency_by_concurrency),
        ("faq", "faq-match-by-size.png", faq_match_by_size),
        ("coldstart", "coldstart-by-function.png", coldstart_by_function),
        ("scale", "scale.png", scale_chart),
    )
    drawn = {}
    for name, filename, maker in makers:
        if documents.get(name):
            try:
                drawn[name] = maker(documents[name], folder / filename)
            except Exception as error:
                print(f"chart {filename} failed: {error!r}", flush=True)
    return drawn
