"""Tool calls checked before they run, and every way a tool can fail becoming a message safe to show."""

import time

import anyio
import pytest
from pydantic import BaseModel

from airelay.providers.base import ToolCall
from airelay.settings import Settings
from airelay.tools.base import (
    CLEANUP_S,
    Tool,
    ToolContext,
    ToolFailed,
    ToolInputError,
    ToolResult,
    parse_call,
    run_tool,
)
from airelay.usage import Caller


class Input(BaseModel):
    n: int


class Returns(Tool):
    name = "returns"
    description = "Answers with whatever it was built with."
    Input = Input
    timeout_s = 0.5

    def __init__(self, value) -> None:
        self.value = value

    async def run(self, arguments, context):
        return self.value


CONTEXT = ToolContext(Settings(), Caller("r", "test", "chat"))


@pytest.mark.parametrize(
    "arguments,error",
    [
        ("{", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ("[1]", "do not fit its input"),
        ('{"n": "x"}', "do not fit its input"),
        ('{"n": NaN}', "not valid JSON"),
        ('{"n": -Infinity}', "not valid JSON"),
        ('{"n": 1e400}', "not valid JSON"),
    ],
)
def test_arguments_that_are_not_the_input_are_refused(arguments, error):
    with pytest.raises(ToolInputError, match=error):
        parse_call(ToolCall("c", "returns", arguments), {"returns": Returns(1)})


def test_an_unknown_tool_is_refused_by_name():
    with pytest.raises(ToolInputError, match="no tool named 'nope'"):
        parse_call(ToolCall("c", "nope", "{}"), {})


def test_empty_arguments_are_read_as_an_empty_object():
    with pytest.raises(ToolInputError, match="n: Field required"):
        parse_call(ToolCall("c", "returns", ""), {"returns": Returns(1)})


def test_a_plain_value_becomes_a_result_and_non_json_output_is_a_failure():
    async def run(value):
        return await run_tool(Returns(value), Input(n=1), CONTEXT)

    assert anyio.run(run, {"a": 1}) == ToolResult({"a": 1})
    with pytest.raises(ToolFailed, match="returns failed"):
        anyio.run(run, {"a": object()})


def test_an_output_is_kept_as_json_reads_it_back():
    async def run(value):
        return await run_tool(Returns(value), Input(n=1), CONTEXT)

    assert anyio.run(run, {2024: 3, "total": (1, 2)}) == ToolResult({"2024": 3, "total": [1, 2]})


class Blocks(Returns):
    """Waits in a worker thread, where cancellation cannot reach, past its 0.5 s deadline."""

    async def run(self, arguments, context):
        await anyio.to_thread.run_sync(time.sleep, self.value)
        return "late"


def test_a_tool_blocked_in_a_worker_thread_fails_at_its_deadline_and_its_late_result_is_dropped():
    async def run():
        started = time.monotonic()
        with pytest.raises(ToolFailed, match=r"took longer than 0\.5 s"):
            await run_tool(Blocks(2), Input(n=1), CONTEXT)
        return time.monotonic() - started

    assert anyio.run(run) < 0.5 + CLEANUP_S + 0.3
