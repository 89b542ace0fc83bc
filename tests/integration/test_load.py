"""A bounded load run: 64 concurrent clients send 640 requests to the local API in its own process, with the fake
upstream in another (tests/support/soak.py). Speed and memory are not judged here: `make bench` runs the same for
60 s and judges throughput and resident memory (bench/soak.py).

GIVEN the local API (real uvicorn, a fresh SQLite usage ledger) and a fast fake upstream, each its own process,
WHEN 64 keep-alive clients send buffered chats, streamed chats and usage reports, 640 requests in all,
THEN every request is answered in full (exactly the upstream's text, a finish, the usage figures), the server logs
no error, and the ledger's totals, and /api/usage's, equal the sums over the answers: calls, tokens and cost, nothing
left on hold.
"""

from __future__ import annotations

import json

from local.template import ROOT
from tests.support.soak import run_soak

CONCURRENCY = 64
REQUESTS = 640
TIME_LIMIT_S = 600  # only a stop for a hung run: the run ends when the requests are done
OUTPUT = ROOT / "test-output" / "load.json"


def test_64_clients_640_requests_every_answer_exact_and_a_ledger_that_adds_up(tmp_path):
    result = run_soak(
        duration_s=TIME_LIMIT_S, concurrency=CONCURRENCY, warmup_s=0, max_requests=REQUESTS, workdir=tmp_path
    )
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result.to_dict(), indent=1), "utf-8")
    summary = {k: v for k, v in result.to_dict().items() if k != "rss_samples"}

    assert sum(result.requests.values()) == REQUESTS, summary
    assert min(result.requests.values()) > 0, summary  # buffered, streamed and usage requests all ran
    assert result.errors == 0, summary
    assert not result.server_errors, summary
    assert result.ledger_matches, summary
