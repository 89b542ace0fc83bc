"""More tools for the protocol tests (TOOLS_MODULE=tests.support.tools_more), beside weather and pick_color: values
JavaScript's JSON reads differently from Python's, an output longer than the model reads, and a tool that blocks a
worker thread past its deadline."""

from __future__ import annotations

import time

import anyio
from pydantic import BaseModel, ConfigDict, Field

from airelay.tools.base import Tool, ToolContext, ToolResult
from airelay.tools.client import ClientTool
from tests.support.tools import PICK_COLOR, Input, Weather


class Order(Tool):
    """Looks an order up: its id is a 64-bit number, as database and snowflake ids are (past 2**53)."""

    name = "order"
    description = "Looks an order up by city."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"order_id": 9007199254740993, "city": arguments.city})


class Tally(Tool):
    """Counts by key: a Python dict with both number and text keys, which JSON writes as text keys."""

    name = "tally"
    description = "Counts things in a city."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({2024: 3, "total": 3})


class Huge(Tool):
    """A 60 000-character output: more than the model reads of one tool's output."""

    name = "huge"
    description = "Answers with a very large text."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"text": "y" * 60_000})


class Blocking(Tool):
    """Waits 4 s on a blocking call in a worker thread, as tools over requests or boto3 do; 0.5 s is its deadline."""

    name = "blocking"
    description = "Looks something up with a blocking client."
    Input = Input
    timeout_s = 0.5

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        await anyio.to_thread.run_sync(time.sleep, 4)
        return ToolResult("late")


class Ticket(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket: int = Field(description="the ticket number")


CONFIRM = ClientTool("confirm_ticket", "Asks the user to confirm a ticket; answers with {ok}.", Ticket)

TOOLS = [Weather(), PICK_COLOR, Order(), Tally(), Huge(), Blocking(), CONFIRM]
