"""bench/responses_store.py's table: the ratio of kept to not kept, judged against its target."""

from bench.responses_store import TARGET, table


def measured(kept_cpu: float) -> dict:
    medians = {
        "kept": {"latency_ms": 3.1, "cpu_ms_per_answer": kept_cpu},
        "not kept": {"latency_ms": 3.0, "cpu_ms_per_answer": 2.0},
    }
    ratios = {name: medians["kept"][name] / medians["not kept"][name] for name in medians["kept"]}
    return {"medians": medians, "ratios": ratios}


def test_a_cost_within_the_target_passes_and_one_past_it_fails():
    assert table(measured(2.0 * TARGET - 0.01)).endswith("PASS")
    assert table(measured(2.0 * TARGET + 0.01)).endswith("FAIL")
    assert "1.033x" in table(measured(2.0))  # the latency ratio, 3.1 / 3.0
