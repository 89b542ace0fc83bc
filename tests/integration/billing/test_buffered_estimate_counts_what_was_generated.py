"""A buffered call whose provider reports no usage (`Finished.usage` None: the port allows it, and servers behind
OPENAI_BASE_URL may send none) is billed an estimate of all the model generated, as a streamed call is: its text, its
reasoning and its tool calls' arguments (`relay.generated`), so a tool-calling step with no text is not billed 0
completion tokens. Same style as tests/unit/test_streams_settle.py."""

import json
from datetime import UTC, datetime

import anyio
import pytest

from airelay import relay, usage
from airelay.providers.base import ChatModel, ChatRequest, Completion, Finished, ToolCall
from airelay.settings import Settings
from airelay.tokens import count
from airelay.usage import Caller
from tests.unit.test_streams_settle import PAID, sqlite_meter

ARGUMENTS = json.dumps({"query": "How long does a refund take and who pays for the return shipping? " * 4})
REASONING = "The user asks about refunds; the FAQ should have the policy, so I search it before answering. " * 3


class Unreported(ChatModel):
    """Answers with reasoning and a tool call, no text, and no usage report."""

    provider = "openai"

    async def stream(self, request: ChatRequest):
        raise NotImplementedError
        yield

    async def complete(self, request: ChatRequest) -> Completion:
        return Completion("", Finished("tool-calls", None), REASONING, [ToolCall("call_1", "search_faq", ARGUMENTS)])


@pytest.fixture
def meter(tmp_path, monkeypatch):
    meter = sqlite_meter(tmp_path)
    monkeypatch.setattr(usage, "_meter", meter)
    return meter


def test_a_buffered_call_without_usage_is_billed_its_reasoning_and_tool_arguments(meter):
    # GIVEN a model that reasons and calls a tool, and reports no usage
    request = ChatRequest([{"role": "user", "content": "Refunds?"}], max_tokens=500)
    caller = Caller("req-1", "key:test", "chat")
    # WHEN the buffered call is made
    answer = anyio.run(relay.complete, Unreported(PAID), request, Settings(), caller)
    # THEN it is billed, estimated, at least the tokens of what the model generated: its reasoning and arguments
    generated = count(REASONING) + count(ARGUMENTS)
    [row] = meter.ledger.rows(datetime.now(UTC).date().isoformat())
    assert row.estimated and answer.usage.estimated
    assert row.completion_tokens >= generated, (row.completion_tokens, generated)
