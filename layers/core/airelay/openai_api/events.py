"""ChatEvents -> the Responses API's server-sent events: response.created and in_progress; per output item
output_item.added, its deltas (output_text.delta, function_call_arguments.delta) and .done events; the caller ends
with response.completed (with usage), or `error` after a failure, which the SDKs raise, never a clean stop."""

from __future__ import annotations

import uuid

from pydantic_core import to_json

from ..errors import AirelayError
from ..providers.base import ToolCall
from .errors import error_body


class ResponseEvents:
    """The encoder ChatStream.parts writes to (delta, reasoning, tool_start, tool_delta)."""

    def __init__(self, shell: dict, model_id: str) -> None:
        self.shell = {**shell, "model": model_id}
        self.sequence = 0
        self.done: dict[int, dict] = {}  # output index -> finished item
        self.text_item: tuple[int, str] | None = None  # (output index, id) of the open message
        self.text: list[str] = []
        self.calls: dict[str, tuple[int, str, str]] = {}  # call id -> (output index, item id, name)
        self.arguments: dict[str, list[str]] = {}

    @property
    def output(self) -> list[dict]:
        """The finished items by their output_index, as the events numbered them."""
        return [self.done[index] for index in sorted(self.done)]

    def event(self, kind: str, **fields) -> bytes:
        self.sequence += 1
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), to_json(data))

    def start(self) -> bytes:
        return self.event("response.created", response=self.shell) + self.event(
            "response.in_progress", response=self.shell
        )

    def delta(self, text: str) -> bytes:
        opened = b""
        if self.text_item is None:
            self.text_item = (len(self.done) + len(self.calls), f"msg_{uuid.uuid4().hex}")
            index, item_id = self.text_item
            part = {"type": "output_text", "text": "", "annotations": []}
            opened = self.event(
                "response.output_item.added",
                output_index=index,
                item={"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []},
            ) + self.event(
                "response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part
            )
        self.text.append(text)
        index, item_id = self.text_item
        return opened + self.event(
            "response.output_text.delta", item_id=item_id, output_index=index, content_index=0, delta=text, logprobs=[]
        )

    def reasoning(self, text: str) -> bytes:
        return b""  # a model's reasoning is not part of a Responses answer without a stored reasoning item

    def close_text(self) -> bytes:
        if self.text_item is None:
            return b""
        index, item_id = self.text_item
        self.text_item = None
        text = "".join(self.text)
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}
        self.done[index] = item
        return (
            self.event(
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            + self.event("response.content_part.done", item_id=item_id, output_index=index, content_index=0, part=part)
            + self.event("response.output_item.done", output_index=index, item=item)
        )

    def tool_start(self, call_id: str, name: str) -> bytes:
        closed = self.close_text()
        index, item_id = len(self.done) + len(self.calls), f"fc_{uuid.uuid4().hex}"
        self.calls[call_id] = (index, item_id, name)
        self.arguments[call_id] = []
        item = {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": ""}
        return closed + self.event(
            "response.output_item.added", output_index=index, item={**item, "status": "in_progress"}
        )

    def tool_delta(self, call_id: str, fragment: str) -> bytes:
        index, item_id, _ = self.calls[call_id]
        self.arguments[call_id].append(fragment)
        return self.event("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=fragment)

    def close_items(self, calls: list[ToolCall]) -> bytes:
        """The end of the answer: the open message and every tool call done, in output order."""
        out = self.close_text()
        for call in calls:
            if call.id not in self.calls:
                continue
            index, item_id, name = self.calls.pop(call.id)
            item = {
                "type": "function_call",
                "id": item_id,
                "call_id": call.id,
                "name": name,
                "arguments": call.arguments,
                "status": "completed",
            }
            self.done[index] = item
            out += self.event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                name=name,
                arguments=call.arguments,
            ) + self.event("response.output_item.done", output_index=index, item=item)
        return out

    def error(self, failure: AirelayError) -> bytes:
        detail = error_body(failure)["error"]
        return self.event("error", code=detail["code"], message=detail["message"], param=detail["param"], error=detail)
