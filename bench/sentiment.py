"""Sentiment with the local model (local/use-multilingual-anchors): accuracy on the dev set (Korean and English
separately), latency per text (the model, and the whole Lambda handler), load time and peak memory.

    .venv/bin/python -m bench.sentiment [--rounds 5]      (from bench/__main__.py: sentiment.main(argv))
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .local_model_run import ROOT, latency, peak_rss_mb, run_worker, timings_ms, write

DEV_SET = ROOT / "tests" / "sentiment_dev_set.yaml"
MODEL = "local/use-multilingual-anchors"
ACCURACY_TARGET = 0.85


def measure(rounds: int) -> dict:
    import anyio
    import yaml

    from airelay.providers import registry
    from local.invoke import find_function
    from local.lambda_bridge import LambdaContext, handler_of

    sets = yaml.safe_load(DEV_SET.read_text("utf-8"))
    rows = [
        (lang, label, text) for lang, by_label in sets.items() for label, texts in by_label.items() for text in texts
    ]
    started = time.perf_counter()
    model = anyio.run(registry.text_classifier, MODEL)
    load_s = time.perf_counter() - started

    async def classify_all() -> list[str]:
        return [(await model.classify(text)).sentiment for _, _, text in rows]

    predicted = anyio.run(classify_all)
    accuracy = {}
    for lang in ("ko", "en"):
        hits = [p == label for (la, label, _), p in zip(rows, predicted) if la == lang]
        accuracy[lang] = {"accuracy": round(sum(hits) / len(hits), 4), "n": len(hits)}
    overall = sum(p == label for (_, label, _), p in zip(rows, predicted)) / len(rows)
    wrong = [
        {"lang": la, "expected": label, "got": p, "text": text}
        for (la, label, text), p in zip(rows, predicted)
        if p != label
    ]

    async def time_each(texts: list[str]) -> list[float]:
        out = []
        for text in texts:
            began = time.perf_counter()
            await model.classify(text)
            out.append((time.perf_counter() - began) * 1000)
        return out

    per_text = anyio.run(time_each, [text for *_, text in rows] * rounds)

    handler = handler_of(find_function("SentimentFunction"))
    event = json.loads((ROOT / "events" / "sentiment_ko.json").read_text("utf-8"))
    per_request = timings_ms(lambda: handler(event, LambdaContext("SentimentFunction", "bench")), 50 * rounds)
    return {
        "model": MODEL,
        "accuracy": {
            **accuracy,
            "overall": round(overall, 4),
            "target": ACCURACY_TARGET,
            "n": len(rows),
            "wrong": wrong,
        },
        "latency": {"model_per_text": latency(per_text), "handler_per_request": latency(per_request)},
        "load_s": round(load_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def text_report(m: dict) -> str:
    acc, lat = m["accuracy"], m["latency"]
    verdict = "ok" if acc["overall"] >= acc["target"] else "BELOW TARGET"
    lines = [
        f"sentiment ({m['model']})",
        f"  accuracy   ko {acc['ko']['accuracy']:.1%} (n={acc['ko']['n']})   en {acc['en']['accuracy']:.1%} "
        f"(n={acc['en']['n']})   overall {acc['overall']:.1%}   target >= {acc['target']:.0%}: {verdict}",
        f"  latency    per text (model)  p50 {lat['model_per_text']['p50_ms']} ms  "
        f"p99 {lat['model_per_text']['p99_ms']} ms   per request (handler)  p50 {lat['handler_per_request']['p50_ms']} ms  "
        f"p99 {lat['handler_per_request']['p99_ms']} ms",
        f"  load       {m['load_s']} s (embedder + anchors)   peak memory {m['peak_rss_mb']} MB (worker process RSS)",
    ]
    lines += [f"  wrong      [{w['lang']}] {w['expected']} -> {w['got']}: {w['text']}" for w in acc["wrong"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sentiment", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the dev set for latency (default 5)")
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    rounds = 1 if args.quick else args.rounds
    if args.worker:
        print(json.dumps(measure(rounds), ensure_ascii=False))
        return 0
    print("sentiment: measuring in a worker process ...", flush=True)
    measured = run_worker("bench.sentiment", ["--rounds", str(rounds)], {"OPENBLAS_NUM_THREADS": "1"})  # template.yaml
    print(text_report(measured))
    for path in write("sentiment", measured):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
