"""Reading OpenAI's `chat.completion.chunk` stream into ChatEvents: text, reasoning, tool calls, finish."""

from __future__ import annotations

import uuid

from pydantic_core import from_json

from ..errors import ProviderFailed
from .base import (
    ChatEvent,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)

FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content-filter", "tool_calls": "tool-calls"}
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def finish_reason(reason: str | None) -> str:
    return FINISH_REASONS.get(reason or "stop", "other")


def usage_of(usage: dict | None) -> Usage | None:
    """The upstream's token counts as non-negative integers, whatever a peer reports."""
    if not isinstance(usage, dict) or not usage:
        return None
    prompt = token_count(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    completion = token_count(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    reasoning = token_count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    return Usage(prompt, completion, min(cached, prompt), reasoning_tokens=min(reasoning, completion))


def token_count(value: object) -> int:
    """A reported count: a whole number (`5` or `5.0`) of zero or more; anything else counts 0."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if type(value) is int and value > 0 else 0


def text_of(value: object) -> str:
    """A text field of the answer, which must be a string (a malformed chunk otherwise)."""
    if not isinstance(value, str):
        raise TypeError("a text field that is not a string")
    return value


def content_of(value: object) -> tuple[str, str]:
    """An answer's `content` as (text, reasoning): a string, or a list of typed parts as Mistral's reasoning models
    send it ({"type": "text", "text"}, {"type": "thinking", "thinking": [text parts]}; a citation's "reference"
    carries no text and is left out). Anything else, a part of another type too, is a malformed answer."""
    if value is None or isinstance(value, str):
        return value or "", ""
    if not isinstance(value, list):
        raise TypeError("content that is neither a string nor a list of parts")
    text, reasoning = [], []
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text.append(text_of(part.get("text")))
        elif kind == "thinking":
            thinking = part.get("thinking")
            inner = thinking if isinstance(thinking, list) else [{"type": "text", "text": thinking}]
            reasoning.append(content_of(inner)[0])
        elif kind != "reference":
            raise TypeError("a content part of a type that is not read")
    return "".join(text), "".join(reasoning)


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ThinkSplitter:
    """Splits content into text and `<think>…</think>` reasoning, with tags that may be cut across chunks: a chunk
    ending in what could be the start of a tag keeps that tail back until the next one."""

    __slots__ = ("held", "thinking")

    def __init__(self) -> None:
        self.held = ""
        self.thinking = False

    def feed(self, content: str) -> list[ChatEvent]:
        if not self.held and "<" not in content:
            return [ReasoningDelta(content) if self.thinking else TextDelta(content)]
        content, self.held = self.held + content, ""
        events: list[ChatEvent] = []
        while content:
            tag = THINK_CLOSE if self.thinking else THINK_OPEN
            at = content.find(tag)
            if at < 0:
                keep = partial_tag_at_end(content, tag)
                content, self.held = content[: len(content) - keep], content[len(content) - keep :]
                self.emit(events, content)
                break
            self.emit(events, content[:at])
            content = content[at + len(tag) :]
            self.thinking = not self.thinking
        return events

    def flush(self) -> list[ChatEvent]:
        events: list[ChatEvent] = []
        self.emit(events, self.held)
        self.held = ""
        return events

    def emit(self, events: list[ChatEvent], text: str) -> None:
        if text:
            events.append(ReasoningDelta(text) if self.thinking else TextDelta(text))


def partial_tag_at_end(text: str, tag: str) -> int:
    """How many characters at the end of `text` are a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ToolCalls:
    """Tool-call fragments by index: the first fragment of a call names it (id, function.name); later ones carry
    argument pieces. Peers that repeat the id on every chunk, leave it out, or send arguments before the name are
    read all the same: the index is the key, arguments wait for the name. The id is always one made here: peers that
    number calls per response (`call_0` in every step) would give two calls of one answer the same id."""

    __slots__ = ("arguments", "ids", "names", "pending", "started")

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.names: dict[int, str] = {}
        self.arguments: dict[int, list[str]] = {}
        self.pending: dict[int, list[str]] = {}
        self.started: list[int] = []

    def feed(self, fragments: list[dict], events: list[ChatEvent]) -> None:
        for position, fragment in enumerate(fragments):
            index = fragment.get("index", position)
            function = fragment.get("function") or {}
            if index not in self.ids:
                self.ids[index] = new_call_id()
                self.arguments[index] = []
            if index not in self.names and function.get("name"):
                self.names[index] = text_of(function["name"])
                self.start(index, events)
            piece = function.get("arguments")
            if piece:
                text_of(piece)
                self.arguments[index].append(piece)
                if index in self.names:
                    events.append(ToolCallDelta(self.ids[index], piece))
                else:
                    self.pending.setdefault(index, []).append(piece)

    def start(self, index: int, events: list[ChatEvent]) -> None:
        self.started.append(index)
        events.append(ToolCallStart(self.ids[index], self.names[index]))
        for piece in self.pending.pop(index, ()):
            events.append(ToolCallDelta(self.ids[index], piece))

    def end(self, events: list[ChatEvent]) -> None:
        """Every call of the step is complete: the nameless ones start now (named "", an unknown tool)."""
        for index in sorted(self.ids):
            if index not in self.names:
                self.names[index] = ""
                self.start(index, events)
        for index in self.started:
            events.append(ToolCallEnd(self.ids[index], "".join(self.arguments[index])))
        self.ids.clear()
        self.started.clear()

    def __bool__(self) -> bool:
        return bool(self.ids)


class StreamState:
    """Reads `chat.completion.chunk` SSE lines as they arrive; one network read's text comes out as one delta. A
    chunk that breaks the stream (malformed, or an error) is kept in `failure`, after the events of the chunks read
    before it in the same read: what arrived first reaches the client first, however the reads fall.

    Every content chunk holds at least one token, so a chunk past `max_tokens` of them means the upstream ignored
    the limit: the answer ends there, as if it had stopped for length (`overrun`)."""

    __slots__ = ("buffer", "calls", "chunks", "done", "failure", "max_tokens", "overrun", "reason", "think", "usage")

    def __init__(self, max_tokens: int) -> None:
        self.buffer = b""
        self.reason: str | None = None
        self.usage: Usage | None = None
        self.done = False
        self.failure: Exception | None = None
        self.overrun = False
        self.max_tokens = max_tokens
        self.chunks = 0
        self.think = ThinkSplitter()
        self.calls = ToolCalls()

    def feed(self, data: bytes) -> list[ChatEvent]:
        if self.done:
            return []
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        events: list[ChatEvent] = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            try:
                self.chunk(from_json(payload), events)
            except Exception as exc:
                self.failure, self.done = exc, True
                break
            if self.overrun:
                break
        return merged(events)

    def chunk(self, chunk: dict, events: list[ChatEvent]) -> None:
        if "error" in chunk:
            raise ProviderFailed()
        if chunk.get("usage"):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            refusal = delta.get("refusal")
            if content or reasoning or refusal or delta.get("tool_calls"):
                if self.chunks == self.max_tokens:
                    self.reason, self.done, self.overrun = "length", True, True
                    return
                self.chunks += 1
            if reasoning:
                events.append(ReasoningDelta(text_of(reasoning)))
            if content:
                content, thought = content_of(content)
                if thought:
                    events.append(ReasoningDelta(thought))
                if content:
                    events.extend(self.think.feed(content))
            if refusal:
                events.append(RefusalDelta(text_of(refusal)))
            if delta.get("tool_calls"):
                self.calls.feed(delta["tool_calls"], events)
            if choice.get("finish_reason"):
                self.reason = finish_reason(choice["finish_reason"])

    def close(self) -> list[ChatEvent]:
        """The stream's end: held-back text, and every tool call of the step complete."""
        events = self.think.flush()
        if self.calls:
            self.calls.end(events)
            if self.reason == "stop":
                self.reason = "tool-calls"  # some servers say "stop" after calling tools
        return events


def merged(events: list[ChatEvent]) -> list[ChatEvent]:
    """Adjacent text (or reasoning, or refusal) deltas of one network read as one event."""
    if len(events) < 2:
        return events
    out: list[ChatEvent] = [events[0]]
    for event in events[1:]:
        last = out[-1]
        if type(event) is type(last) and isinstance(event, (TextDelta, ReasoningDelta, RefusalDelta)):
            out[-1] = type(event)(last.text + event.text)
        else:
            out.append(event)
    return out
