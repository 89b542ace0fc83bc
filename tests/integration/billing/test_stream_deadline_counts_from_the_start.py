"""STREAM_DEADLINE_S is "the longest a stream may run, all its steps and tools together" (docs/configuration.md), kept
under the chat function's Timeout (330 s against 300 s, template.yaml) so the stream ends with an error part instead
of being cut by Lambda unsettled. It counts from the first model asked (`relay_stream.open_any_stream`): the wait for a
first token (each fallback model's too) is inside it, not on top of it."""

import json
import time

import httpx

from tests.integration.openai_api.conftest import rows
from tests.support.upstream import Ok


def test_a_streams_deadline_includes_the_wait_for_its_first_token(chat_api, upstream, tmp_path):
    # GIVEN a 3 s deadline for a streamed answer, and a provider that takes 2.5 s to its first token, then streams
    # for 10 s more
    api = chat_api(UPSTREAM_TIMEOUT_S=10, STREAM_IDLE_TIMEOUT_S=5, STREAM_DEADLINE_S=3)
    upstream.script(Ok(delay_s=2.5, chunks=400, chunk_delay_s=0.025))
    # WHEN the answer is streamed
    started = time.monotonic()
    with httpx.stream("POST", f"{api}/api/chat/stream", json={"message": "Tell me a long story."}) as answer:
        assert answer.status_code == 200
        events = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]
    elapsed = time.monotonic() - started
    # THEN it ends at its deadline, with the error part of a timeout (and its row written), not 2.5 s after it
    assert events[-1]["type"] == "error" and events[-2]["type"] == "data-usage"
    assert [r.status for r in rows(tmp_path)] == ["error"]
    assert elapsed < 4.5, f"the 3 s answer ran {elapsed:.1f} s"
