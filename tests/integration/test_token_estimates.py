"""A stream cut or failed before the provider's usage arrives is settled from an offline token estimate: promptly,
whatever the request's text, through the local API and its SQLite ledger."""

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from airelay.usage.sqlite import SqliteLedger
from tests.support.upstream import FakeUpstream, Ok, ResetMidStream

SAMPLES = yaml.safe_load((Path(__file__).parents[1] / "token_samples.yaml").read_text("utf-8"))
SETTLED_WITHIN_S = 10.0  # the estimate takes milliseconds; the rest is the vocabulary's one-time load


def hangul_run(chars: int) -> str:
    """Korean with its spaces and punctuation taken out: one pre-token piece, the costliest input for BPE."""
    letters = "".join(re.findall("[가-힣]", "".join(SAMPLES["ko"])))
    return (letters * (chars // len(letters) + 1))[:chars]


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def ledger(tmp_path):
    return SqliteLedger(tmp_path / "usage.sqlite3")


@pytest.fixture
def api(local_api, upstream, tmp_path):
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        STREAM_IDLE_TIMEOUT_S=1,
        USAGE_DB_PATH=tmp_path / "usage.sqlite3",
    )


def settled_rows(ledger, deadline_s: float) -> tuple[list, float]:
    started = time.monotonic()
    while True:
        rows = ledger.rows(datetime.now(UTC).date().isoformat())
        if rows or time.monotonic() - started > deadline_s:
            return rows, time.monotonic() - started
        time.sleep(0.05)


def stream(api, body, stop_after_deltas=None) -> None:
    deltas = 0
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=15) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            deltas += '"text-delta"' in line
            if deltas == stop_after_deltas:
                break


def test_a_stream_with_a_large_cjk_body_cut_by_its_client_is_settled_promptly(api, upstream, ledger):
    # GIVEN 16,000 Hangul letters without spaces (48 KB, within the default message and history limits)
    body = {
        "conversation_history": [
            {"role": "user", "content": hangul_run(8000)},
            {"role": "assistant", "content": "네"},
        ],
        "message": hangul_run(7990),
        "max_tokens": 100,
    }
    upstream.script(Ok(chunk_delay_s=0.1))
    # WHEN the client stops reading after three deltas, so no usage ever comes from the provider
    stream(api, body, stop_after_deltas=3)
    # THEN its row is settled from an estimate within seconds, not the minute exact BPE takes on such a body
    rows, waited = settled_rows(ledger, SETTLED_WITHIN_S)
    assert len(rows) == 1, f"no usage row {waited:.1f} s after the client left"
    row = rows[0]
    assert row.status == "cancelled" and row.estimated and row.completion_tokens >= 3
    # 16k letters are between 4k and 48k tokens (o200k: about one token per 1-2 Hangul letters; a token >= 1 byte)
    assert 16_000 / 4 < row.prompt_tokens < 48_000


def test_a_failed_stream_whose_text_names_a_special_token_still_leaves_its_row(api, upstream, ledger):
    # GIVEN a message that quotes a tokenizer's special token, and an upstream that resets mid-stream
    upstream.script(ResetMidStream(after_chunks=6))
    # WHEN the stream fails before the provider's usage
    stream(api, {"message": "Why does my model print <|endoftext|> at the end of answers?"})
    # THEN one error row with estimated tokens (the text is counted as text)
    rows, _ = settled_rows(ledger, SETTLED_WITHIN_S)
    assert len(rows) == 1
    assert rows[0].status == "error" and rows[0].estimated
    assert rows[0].prompt_tokens > 0 and rows[0].completion_tokens >= 6
