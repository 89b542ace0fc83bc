"""POST /api/chat: an answer cut by its one deadline (STREAM_DEADLINE_S, buffered.run_steps) while a model call waits
for the provider is a 504 to the client and a failed call in the ledger (`error`, as the stream's is), billed its
prompt: `cancelled` is kept for a call its client walked away from."""

import httpx
import pytest

from tests.integration.openai_api.conftest import rows
from tests.support.upstream import SlowFirstByte


@pytest.mark.upstream_failure  # the answer's deadline passes: 504
def test_a_buffered_answer_cut_by_its_deadline_leaves_an_error_row(chat_api, upstream, tmp_path):
    # GIVEN a 1 s deadline for the whole answer, a 10 s one for each model call, and a provider that takes 5 s
    api = chat_api(UPSTREAM_TIMEOUT_S=10, STREAM_DEADLINE_S=1)
    upstream.script(SlowFirstByte(5))
    # WHEN the buffered chat is asked
    answer = httpx.post(f"{api}/api/chat", json={"message": "Say hello."}, timeout=30)
    # THEN it is a 504 (the server's deadline, not the client leaving)
    assert answer.status_code == 504 and answer.json()["error"]["code"] == "provider_timeout"
    # AND its row, billed its prompt, is a failed call, as the stream's is when the same deadline cuts it
    [row] = rows(tmp_path)
    assert row.prompt_tokens > 0 and row.estimated
    assert row.status == "error", row
