"""The tool the steps benchmark offers the model (TOOLS_MODULE=bench.tools): answers at once, so a tool step's CPU
is airelay's own (parsing the call, validating its input, encoding the parts, the next upstream call)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from airelay.tools.base import Tool, ToolContext, ToolResult


class Echo(Tool):
    name = "echo"
    description = "Answers with its input."

    class Input(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = Field(max_length=200)

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        return ToolResult({"text": arguments.text})


TOOLS = [Echo()]
