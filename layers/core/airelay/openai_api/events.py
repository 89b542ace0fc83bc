"""ChatEvents -> the Responses API's server-sent events: response.created and in_progress; per output item
output_item.added, its deltas (output_text.delta, refusal.delta, function_call_arguments.delta) and .done events; the caller ends
with response.completed (with usage), or `error` after a failure, which the SDKs raise, never a clean stop."""

from __future__ import annotations

import uuid

from pydantic_core import to_json

from ..errors import AirelayError
from ..providers.base import ToolCall
from .errors import error_body


class ResponseEvents:
    """The encoder ChatStream.parts writes to (delta, reasoning, refusal, tool_start, tool_delta)."""

    def __init__(self, shell: dict, model_id: str) -> None:
        self.shell = {**shell, "model": model_id}
        self.sequence = 0
        self.done: dict[int, dict] = {}  # output index -> finished item
        self.text_item: tuple[int, str] | None = None  # (output index, id) of the open message
        self.parts: list[dict] = []  # the open message's finished content parts
        self.open_part: tuple[str, list[str]] | None = None  # ("output_text" | "refusal", pieces) being written
        self.calls: dict[str, tuple[int, str, str]] = {}  # call id -> (output index, item id, name)
        self.arguments: dict[str, list[str]] = {}

    @property
    def output(self) -> list[dict]:
        """The finished items by their output_index, as the events numbered them."""
        return [self.done[index] for index in sorted(self.done)]

    def event(self, kind: str, **fields) -> bytes:
        self.sequence += 1
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), to_json(data, inf_nan_mode="null"))

    def start(self) -> bytes:
        return self.event("response.created", response=self.shell) + self.event(
            "response.in_progress", response=self.shell
        )

    def delta(self, text: str) -> bytes:
        return self.content("output_text", text)

    def refusal(self, text: str) -> bytes:
        return self.content("refusal", text)

    def reasoning(self, text: str) -> bytes:
        return b""  # a model's reasoning is not part of a Responses answer without a stored reasoning item

    def content(self, kind: str, text: str) -> bytes:
        """A piece of the message's text or refusal; the message, and a content part of that kind, opened first."""
        opened = b""
        if self.text_item is None:
            self.text_item = (len(self.done) + len(self.calls), f"msg_{uuid.uuid4().hex}")
            index, item_id = self.text_item
            item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
            opened = self.event("response.output_item.added", output_index=index, item=item)
        if self.open_part is None or self.open_part[0] != kind:
            opened += self.close_part()
            self.open_part = (kind, [])
            opened += self.event("response.content_part.added", **self.at(), part=content_part(kind, ""))
        self.open_part[1].append(text)
        if kind == "refusal":
            return opened + self.event("response.refusal.delta", **self.at(), delta=text)
        return opened + self.event("response.output_text.delta", **self.at(), delta=text, logprobs=[])

    def at(self) -> dict:
        """Where the open content part is: its message, the message's output index, the part's index in it."""
        index, item_id = self.text_item
        return {"item_id": item_id, "output_index": index, "content_index": len(self.parts)}

    def close_part(self) -> bytes:
        if self.open_part is None:
            return b""
        kind, pieces = self.open_part
        text, where = "".join(pieces), self.at()
        part = content_part(kind, text)
        self.open_part = None
        self.parts.append(part)
        if kind == "refusal":
            done = self.event("response.refusal.done", **where, refusal=text)
        else:
            done = self.event("response.output_text.done", **where, text=text, logprobs=[])
        return done + self.event("response.content_part.done", **where, part=part)

    def close_message(self, status: str = "completed") -> bytes:
        if self.text_item is None:
            return b""
        closed = self.close_part()
        index, item_id = self.text_item
        item = {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": self.parts}
        self.text_item, self.parts = None, []
        self.done[index] = item
        return closed + self.event("response.output_item.done", output_index=index, item=item)

    def tool_start(self, call_id: str, name: str) -> bytes:
        closed = self.close_message()
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

    def close_items(self, calls: list[ToolCall], status: str = "completed") -> bytes:
        """The end of the answer: the open message and every tool call done, in output order."""
        out = self.close_message(status)
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
                "status": status,
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


def content_part(kind: str, text: str) -> dict:
    """A message's content part: its text, or the model's refusal."""
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "text": text, "annotations": []}
