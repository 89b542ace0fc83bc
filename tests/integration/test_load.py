"""A short, bounded load run: 64 concurrent clients for 10 s against the local API in its own process, with the fake
upstream in another (tests/support/soak.py; `make bench` runs the same for 60 s, bench/soak.py).

GIVEN the local API (real uvicorn, a fresh SQLite usage ledger) and a fast fake upstream, each its own process,
WHEN 64 keep-alive clients send buffered chats, streamed chats and usage reports for 10 s (after a 2 s warm-up),
THEN no request fails (every answer complete and exactly the upstream's text), the server's memory stays flat, and
the ledger's totals, and /api/usage's, equal the sums over the answers: calls, tokens and cost, nothing left on hold.
"""

from __future__ import annotations

import json

from local.template import ROOT
from tests.support.soak import run_soak

DURATION_S = 10
CONCURRENCY = 64
RSS_GROWTH_MAX_MIB = 16  # after the warm-up; measured: about 2 MiB in 10 s
OUTPUT = ROOT / "test-output" / "load.json"


def test_64_clients_for_10_s_no_errors_flat_memory_and_a_ledger_that_adds_up(tmp_path):
    result = run_soak(duration_s=DURATION_S, concurrency=CONCURRENCY, warmup_s=2, workdir=tmp_path)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result.to_dict(), indent=1), "utf-8")
    summary = {k: v for k, v in result.to_dict().items() if k != "rss_samples"}

    assert result.errors == 0, summary
    assert not result.server_errors, summary
    assert min(result.requests.values()) > 0 and sum(result.requests.values()) >= 10 * DURATION_S, summary
    assert result.rss_mib["end"] - result.rss_mib["start"] <= RSS_GROWTH_MAX_MIB, summary
    assert result.ledger_matches, summary
