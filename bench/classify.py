"""Image classification with the local model (local/efficientnet-lite0, ONNX Runtime): latency per image at
224 x 224 (the model's input size), for the 600 x 400 coffee photo (with resizing), through the whole Lambda
handler (base64 JSON event: decode + classify), load time and peak memory.

    .venv/bin/python -m bench.classify [--rounds 200]      (from bench/__main__.py: classify.main(argv))
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .local_model_run import ROOT, latency, peak_rss_mb, run_worker, timings_ms, write

MODEL = "local/efficientnet-lite0"
P50_TARGET_MS = 30.0


def measure(runs: int) -> dict:
    from PIL import Image
    from skimage import data

    from airelay.providers.local_efficientnet import LocalEfficientNet
    from local.invoke import find_function
    from local.lambda_bridge import LambdaContext, handler_of

    started = time.perf_counter()
    model = LocalEfficientNet(MODEL, os.environ["IMAGE_MODEL_PATH"])  # named by local.lambda_bridge
    load_s = time.perf_counter() - started
    photo = Image.fromarray(data.coffee())
    square = photo.resize((224, 224))
    top = model.classify_sync(photo)[0]
    for image in (square, photo):  # warm up
        model.classify_sync(image)
    at_224 = timings_ms(lambda: model.classify_sync(square), runs)
    at_600x400 = timings_ms(lambda: model.classify_sync(photo), runs)

    handler = handler_of(find_function("ClassifyFunction"))
    event = json.loads((ROOT / "events" / "classify_base64.json").read_text("utf-8"))
    context = LambdaContext("ClassifyFunction", "bench")
    answer = json.loads(handler(event, context)["body"])
    per_request = timings_ms(lambda: handler(event, context), max(20, runs // 4))
    return {
        "model": MODEL,
        "top1_coffee": {"label": top.label, "score": round(top.score, 4)},
        "handler_top1": answer["labels"][0],
        "latency": {
            "model_224x224": latency(at_224),
            "model_600x400_with_resize": latency(at_600x400),
            "handler_per_request": latency(per_request),
            "p50_target_ms": P50_TARGET_MS,
        },
        "threads": os.cpu_count(),
        "load_s": round(load_s, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def text_report(m: dict) -> str:
    lat = m["latency"]
    verdict = "ok" if lat["model_224x224"]["p50_ms"] <= lat["p50_target_ms"] else "ABOVE TARGET"

    def row(name: str, key: str) -> str:
        return f"  {name:<34} p50 {lat[key]['p50_ms']:>7} ms   p99 {lat[key]['p99_ms']:>7} ms   (n={lat[key]['n']})"

    return "\n".join(
        [
            f"image classification ({m['model']}, {m['threads']} CPUs)",
            f"  coffee photo top-1: {m['top1_coffee']['label']} {m['top1_coffee']['score']:.3f}",
            row("per image, 224 x 224", "model_224x224") + f"   target p50 <= {lat['p50_target_ms']:g} ms: {verdict}",
            row("per image, 600 x 400 (+ resize)", "model_600x400_with_resize"),
            row("per request (handler, base64 JPEG)", "handler_per_request"),
            f"  load {m['load_s']} s (ONNX session + labels)   peak memory {m['peak_rss_mb']} MB (worker process RSS)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classify", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="images timed per case (default 200)")
    parser.add_argument("--quick", action="store_true", help="40 images per case")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    runs = 40 if args.quick else args.rounds
    if args.worker:
        print(json.dumps(measure(runs)))
        return 0
    print("image classification: measuring in a worker process ...", flush=True)
    measured = run_worker("bench.classify", ["--rounds", str(runs)])
    print(text_report(measured))
    for path in write("classify", measured):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
