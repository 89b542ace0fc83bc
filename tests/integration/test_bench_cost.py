"""`python -m bench.cost` runs end to end, as `make bench` runs it, so a change in the code it reads (settings, the
meter, the DynamoDB ledger, template.yaml) cannot break it unnoticed. Its figures are the benchmark's to judge; this
checks only that it runs and prices every capability from the real meter's writes and metrics. It runs in an empty
results folder, so every duration is its documented fallback (the quick way: no other section needed)."""

import json
import os
import subprocess
import sys

from bench.cost import DEFAULT_MIX, FALLBACK_MS
from local.template import ROOT

CAPABILITIES = ("chat", "chat_stream", "sentiment", "classify", "faq", "faq_fallback")
METRICS_PER_CALL = 8  # observability.record_call: Calls, tokens in / out / cached, cost, latency, failures, cancels


def test_the_cost_benchmark_runs_and_prices_every_capability(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    env |= {"BENCH_RESULTS_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/core"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.cost", "--calls-per-month", "2000000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "cost-latest.json").read_text())
    assert (tmp_path / "cost-by-traffic.png").stat().st_size > 0
    assert document["calls_per_month"] == 2_000_000
    assert set(document["capabilities"]) == set(CAPABILITIES)
    for name, capability in document["capabilities"].items():
        assert capability["infra_per_million"] > 0 and capability["break_even_calls"] > 0, name
        assert capability["per_million"]["dynamodb"] > 0 and capability["per_million"]["logs"] > 0, name
        # the meter's real DynamoDB writes (a hold and a settlement, each a few items) and its EMF document
        assert capability["write_units"] >= 2 and capability["emf_metrics"] == METRICS_PER_CALL, name
    durations = document["inputs"]["durations"]
    assert {k: v["ms"] for k, v in durations.items() if k in FALLBACK_MS} == FALLBACK_MS
    assert all(v["source"].startswith("FALLBACK") for v in durations.values())
    assert set(document["mix"]) <= set(CAPABILITIES) and len(DEFAULT_MIX) == 5
    for name in CAPABILITIES:
        assert name in done.stdout
