"""Shared by bench/sentiment.py and bench/classify.py: run a measurement in a fresh worker process (so its peak
memory is the model's own), print it, and write bench/results/<name>-<UTC time>.json and <name>-latest.json."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import report
from .stats import percentile

ROOT = Path(__file__).resolve().parent.parent


def timings_ms(call: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def latency(values: list[float]) -> dict:
    return {"p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2), "n": len(values)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def run_worker(module: str, args: list[str], env: dict[str, str] | None = None) -> dict:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", module, "--worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} worker failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def write(name: str, measured: dict) -> list[Path]:
    meta = report.machine()
    document = {"meta": meta, **measured}
    report.RESULTS.mkdir(exist_ok=True)
    stamp = meta["date_utc"].replace("-", "").replace(":", "")
    data = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    paths = [report.RESULTS / f"{name}-{stamp}.json", report.RESULTS / f"{name}-latest.json"]
    for path in paths:
        path.write_text(data)
    return paths
