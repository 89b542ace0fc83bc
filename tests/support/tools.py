"""Tools for the protocol tests (TOOLS_MODULE=tests.support.tools): one that answers, one that raises, one that
runs past its deadline, two with large outputs, one that takes seconds, and a client-side one."""

from __future__ import annotations

import anyio
from pydantic import BaseModel, ConfigDict, Field

from airelay.tools.base import Source, Tool, ToolContext, ToolResult
from airelay.tools.client import ClientTool


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1, max_length=100)


class Weather(Tool):
    name = "weather"
    description = "The weather in a city."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        await anyio.sleep(0.05)
        return ToolResult({"city": arguments.city, "sky": "clear"}, [Source(f"wx-{arguments.city}", arguments.city)])


class Explode(Tool):
    name = "explode"
    description = "Always fails."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        raise RuntimeError("secret internal detail")


class Sleepy(Tool):
    name = "sleepy"
    description = "Takes longer than it may."
    Input = Input
    timeout_s = 0.2

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        await anyio.sleep(30)
        return ToolResult("never")


class Big(Tool):
    name = "big"
    description = "Answers with a large text."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"text": "x" * 15_000})


class Vast(Tool):
    """Answers with 300 000 characters (a document, many search results): more than the model reads or the browser
    is sent of one output."""

    name = "vast"
    description = "Answers with a document."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"text": "z" * 300_000})


class Slow(Tool):
    """Takes seconds, within its deadline; notes in `cancelled` the calls that were stopped while running."""

    name = "slow"
    description = "Takes a while."
    Input = Input
    timeout_s = 30.0
    cancelled: list[str] = []  # noqa: RUF012 - shared on purpose: the in-process API and the test read it

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            Slow.cancelled.append(arguments.city)
            raise
        return ToolResult("done")


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=200)


PICK_COLOR = ClientTool("pick_color", "Asks the user to pick a color; answers with {color}.", Question)


class NanScore(Tool):
    """A tool whose score came out NaN (a division by zero, a model's empty result): not JSON."""

    name = "score"
    description = "Scores a city."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"city": arguments.city, "score": float("nan")})


TOOLS = [Weather(), Explode(), Sleepy(), Big(), Vast(), Slow(), NanScore(), PICK_COLOR]
