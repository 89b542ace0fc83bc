"""A step's server tools: a metered call the answer's deadline cuts is an error on the deployed event loop (uvloop) too,
and what the model reads of a tool's outcome is the same in the step as after a continuation, whatever the output's
shape."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

import anyio
import pytest
import uvloop
from pydantic import BaseModel

from airelay import steps, usage
from airelay.providers.base import ToolCall
from airelay.settings import get_settings
from airelay.steps import TOOL_OUTPUT_MAX_CHARS, Outcome
from airelay.tools.base import Tool, ToolContext, ToolResult, for_model
from airelay.usage import Caller
from airelay.usage.sqlite import SqliteLedger
from tests.support.state import forget_meter


class Input(BaseModel):
    n: int = 1


class MeteredWait(Tool):
    """A tool whose metered call (an embedding, a classifier) is still waiting at the answer's deadline."""

    name = "metered_wait"
    description = "Waits on a metered call."
    Input = Input
    timeout_s = 30.0

    async def run(self, arguments, context):
        async with usage.metered(context.caller, "openai/gpt-4o-mini", 10, 10):
            await anyio.sleep(30)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    get_settings.cache_clear()
    forget_meter()
    yield lambda: SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())
    forget_meter()
    get_settings.cache_clear()


def test_a_tools_metered_call_cut_at_the_answers_deadline_is_an_error_on_uvloop(ledger):
    """GIVEN the chat function's event loop as deployed (uvicorn --loop auto picks uvloop, pinned in
    functions/chat/requirements.txt) and a server tool whose metered call is still running at STREAM_DEADLINE_S
    WHEN steps.ran_in_time stops it at the answer's deadline
    THEN every such call's row is status "error" (cut by this server's deadline, EMF Failures), never "cancelled"
    (a client that left): the answer's deadline is time.monotonic(), usage.metered compares on the loop's clock,
    which uvloop keeps in whole milliseconds."""
    tool = MeteredWait()

    async def answers() -> list[bool]:
        ran = []
        for i in range(20):
            context = ToolContext(get_settings(), Caller(f"r{i}", "test", "chat"))
            outcome = Outcome(ToolCall(f"c{i}", tool.name, "{}"), {tool.name: tool})
            ran.append(await steps.ran_in_time([outcome], context, time.monotonic() + 0.03))
        return ran

    ran = uvloop.run(answers())
    assert ran == [False] * 20  # every one was stopped by the answer's deadline
    statuses = Counter(r.status for r in ledger())
    assert statuses == {"error": 20}, statuses


class Returns(Tool):
    name = "returns"
    description = "Answers with what it was built with."
    Input = Input

    def __init__(self, value) -> None:
        self.value = value

    async def run(self, arguments, context):
        return ToolResult(self.value)


def test_a_long_real_output_shaped_like_a_cut_one_reads_the_same_after_a_continuation():
    """GIVEN a server tool whose real output happens to be {"truncated": true, "text": <20,000 characters>} (a fetch
    tool reporting that its own source was cut), longer than TOOL_OUTPUT_MAX_CHARS
    WHEN the model reads it in the step after the call (Outcome.for_model) and again after a continuation posts the
    output back as the browser was sent it (continuation.checked -> tools.base.for_model({"output": sent}))
    THEN the model reads the same tool message both times, as continuation.py promises ("as in the step that made
    the call")."""
    output = {"truncated": True, "text": "x" * 20_000}
    tool = Returns(output)
    outcome = Outcome(ToolCall("c1", tool.name, "{}"), {tool.name: tool})
    outcome.result = ToolResult(output)  # as run_tool leaves it
    in_step = outcome.for_model()
    after_continuation = for_model({"output": outcome.sent()}, TOOL_OUTPUT_MAX_CHARS)
    assert after_continuation == in_step


def test_a_short_real_output_shaped_like_a_cut_one_reaches_the_model_as_its_json():
    """GIVEN a server tool whose real, short output is {"truncated": true, "text": "first 2,000 words of the page"}
    (its own flag that its source was cut), far under TOOL_OUTPUT_MAX_CHARS, so the browser is sent it whole
    WHEN the model reads it in the step after the call
    THEN it reads the output's JSON, as it reads every other output, the tool's own flag included."""
    output = {"truncated": True, "text": "first 2,000 words of the page"}
    tool = Returns(output)
    outcome = Outcome(ToolCall("c1", tool.name, "{}"), {tool.name: tool})
    outcome.result = ToolResult(output)
    assert outcome.sent() == output  # sent whole: nothing was cut by the server
    assert outcome.for_model() == json.dumps(output, ensure_ascii=False)
