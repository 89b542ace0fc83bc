"""The targets table of bench/results/report.md and of the terminal summary: every target of every benchmark that
ran, PASS/FAIL."""

from __future__ import annotations

from . import overhead_report, report


def all_targets(documents: dict) -> list[tuple[str, ...]]:
    """(benchmark, target, where, value, result) for every benchmark that ran."""
    rows = []
    if overhead := documents.get("overhead"):
        for t in overhead["targets"]:
            value = overhead_report.target_rows([t])[0]
            rows.append(("overhead", t["target"], t["where"], value[2], value[4]))
    if steps := documents.get("steps"):
        from .steps import WITHIN

        for metric, value in steps["summary"]["now_over_before"].items():
            passed = value is not None and value <= 1 + WITHIN
            shown = f"{value:.3f}x" if value is not None else "-"
            rows.append(("steps", f"now / before <= {1 + WITHIN:g}", metric, shown, report.judged(passed)))
    if ledger := documents.get("ledger"):
        for name, r in ledger["ledgers"].items():
            if r["target_p50_ms"] is None or not r["meter"]:
                continue
            p50 = r["meter"]["p50_ms"]
            rows.append(
                (
                    "ledger",
                    f"meter open+close p50 <= {r['target_p50_ms']:g} ms",
                    name,
                    f"{p50:.3f} ms",
                    report.judged(p50 <= r["target_p50_ms"]),
                )
            )
    if (ledger := documents.get("ledger")) and "dynalite, budget leases" in ledger["ledgers"]:
        before, now = ledger["ledgers"]["dynalite"], ledger["ledgers"]["dynalite, budget leases"]
        ratio = now["adapter"]["p50_ms"] / before["adapter"]["p50_ms"]
        rows.append(
            (
                "ledger",
                "reserve+settle p50 with leases within 10 % of before",
                "dynalite",
                f"{ratio:.2f}x",
                report.judged(ratio <= 1.10),
            )
        )
    if tail_latency := documents.get("tail"):
        from .tail import target

        *judged, passed = target(tail_latency)
        rows.append(("tail", *judged, report.judged(passed)))
    if visitors := documents.get("visitors"):
        for t in visitors["targets"]:
            rows.append(("visitors", t["target"], t["where"], t["value"], report.judged(t["passed"])))
    if tokens := documents.get("tokens"):
        for t in tokens["targets"]:
            rows.append(("tokens", t["target"], t["where"], t["value"], report.judged(t["passed"])))
    if faq := documents.get("faq"):
        from .faq import ACCURACY_TARGET, MATCH_P50_TARGET_MS

        acc, big = faq["accuracy"]["dev"]["top1_accuracy"], faq["scale"][-1]
        rows.append(
            (
                "faq",
                f"top-1 accuracy >= {ACCURACY_TARGET:.0%}",
                "dev set",
                f"{acc:.1%}",
                report.judged(acc >= ACCURACY_TARGET),
            )
        )
        rows.append(
            (
                "faq",
                f"match p50 <= {MATCH_P50_TARGET_MS:g} ms",
                f"{big['entries']:,} entries",
                f"{big['match_p50_ms']:.3f} ms",
                report.judged(big["match_p50_ms"] <= MATCH_P50_TARGET_MS),
            )
        )
    if sentiment := documents.get("sentiment"):
        acc = sentiment["accuracy"]
        rows.append(
            (
                "sentiment",
                f"accuracy >= {acc['target']:.0%}",
                "dev set, Korean + English",
                f"{acc['overall']:.1%}",
                report.judged(acc["overall"] >= acc["target"]),
            )
        )
    if classify := documents.get("classify"):
        lat = classify["latency"]
        rows.append(
            (
                "classify",
                f"p50 <= {lat['p50_target_ms']:g} ms per image",
                "224 x 224",
                f"{lat['model_224x224']['p50_ms']} ms",
                report.judged(lat["model_224x224"]["p50_ms"] <= lat["p50_target_ms"]),
            )
        )
    if cold := documents.get("coldstart"):
        for r in cold["functions"]:
            value = "-" if r["after_first_ms"] is None else f"{r['after_first_ms']:.0f} ms"
            rows.append(
                (
                    "coldstart",
                    f"first answer after INIT <= {r['target_ms']:g} ms",
                    r["function"],
                    value,
                    report.judged(r["passed"]),
                )
            )
        for r in cold.get("build", {}).get("functions", []):
            if r["target_ms"] is not None:
                value = "-" if r["with_pyc_ms"] is None else f"{r['with_pyc_ms']:.0f} ms"
                rows.append(
                    (
                        "coldstart",
                        f"import with .pyc <= {r['target_ms']:g} ms",
                        r["function"],
                        value,
                        report.judged(r["passed"]),
                    )
                )
            rows.append(
                (
                    "coldstart",
                    "package (function + layer) < 250 MiB unzipped",
                    r["function"],
                    f"{r['total_bytes'] / 1e6:.1f} MB",
                    report.judged(r["under_limit"]),
                )
            )
    if scale := documents.get("scale"):
        leases = scale["leases"]
        where = f"{leases['scenario']['calls_per_s']:,.0f} paid calls/s, simulated"
        rows.append(
            (
                "scale",
                "budget leases: overshoot 0, lost 0, doubled 0, all settled",
                where,
                f"overshoot ${leases['exactness']['overshoot_global_usd']}, lost {leases['exactness']['lost_rows']}",
                report.judged(scale["leases_accepted"]),
            )
        )
        share = leases["throttling"]["throttled_share_after_warm_up"]
        rows.append(
            ("scale", "throttled < 1 % of writes after warm-up", where, f"{share:.3%}", report.judged(share < 0.01))
        )
        stranded = leases["budget"]["stranded_share"]
        rows.append(("scale", "stranded < 1 % at day end", where, f"{stranded:.3%}", report.judged(stranded < 0.01)))
    return rows
