"""An operator's own tools: set TOOLS_MODULE=docs.examples.operator_tools and name them in CHAT_TOOLS, e.g.
CHAT_TOOLS=assistant=order_status+search_faq. The module must be importable by the chat function (put it in the
function's folder or the layer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from airelay.tools.base import Tool, ToolContext, ToolResult

ORDERS = {"A-1001": "shipped", "A-1002": "being packed"}  # stands in for the operator's own order system


class OrderStatus(Tool):
    name = "order_status"
    description = "Looks up the delivery status of an order by its number, such as A-1001."
    timeout_s = 5.0

    class Input(BaseModel):
        model_config = ConfigDict(extra="forbid")
        order: str = Field(pattern=r"^A-\d{4}$", description="the order number")

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        status = ORDERS.get(arguments.order)
        return ToolResult({"order": arguments.order, "status": status or "unknown"})


TOOLS = [OrderStatus()]
