"""Scripted behaviours: what the fake upstream does with the next chat request.

``FakeUpstream.script(...)`` queues them (one is consumed per chat request);
``coerce_behaviour`` turns the short forms ("ok", "429", 500, a JSON dict)
into ``Behaviour`` instances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


class Behaviour:
    """Base class of scripted behaviours (one is consumed per chat request)."""


@dataclass(frozen=True)
class Ok(Behaviour):
    """A normal answer; fields left as None use the server defaults. ``tokens``: the content chunks to send instead
    of ``REPLY_TOKENS`` (chunk ``i`` is ``tokens[i % len(tokens)]``; as many chunks as tokens by default)."""

    chunks: int | None = None
    delay_s: float | None = None
    chunk_delay_s: float | None = None
    tokens: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Spend(Behaviour):
    """Spends all a request allows, or more: ``max_tokens`` content chunks (``extra_completion`` more, ignoring
    ``max_tokens``; without ``max_tokens``, the server's chunk count), finish reason "length", and a usage report
    that says so, with ``prompt_tokens`` the byte count of the prompt (``wire.prompt_bytes``: no byte-level
    tokenizer can count more) plus ``extra_prompt``."""

    extra_completion: int = 0
    extra_prompt: int = 0
    delay_s: float | None = None
    chunk_delay_s: float | None = None


@dataclass(frozen=True)
class Status(Behaviour):
    """An error status with an OpenAI-style error JSON body (contains SECRET_MARKER)."""

    status: int
    retry_after: float | int | None = None
    message: str | None = None


@dataclass(frozen=True)
class SlowFirstByte(Behaviour):
    """Wait ``seconds`` before sending anything (headers included), then answer ok."""

    seconds: float


@dataclass(frozen=True)
class StallMidStream(Behaviour):
    """Stream ``after_chunks`` content chunks, send nothing for ``seconds``, then finish."""

    after_chunks: int = 5
    seconds: float = 30.0


@dataclass(frozen=True)
class ResetMidStream(Behaviour):
    """Stream ``after_chunks`` content chunks then abort the TCP connection.

    ``rst=True`` sets SO_LINGER(1, 0) first so the client sees a real RST
    (ECONNRESET); with ``rst=False`` it just gets an EOF in the middle of the
    chunked body.  ``settle_s`` is slept before the abort so the chunks already
    written reach the client before the reset (an RST can discard unread data).
    """

    after_chunks: int = 5
    rst: bool = True
    settle_s: float = 0.05


@dataclass(frozen=True)
class MalformedChunk(Behaviour):
    """After ``after_chunks`` content chunks send ``data: {not json``.

    then="continue": carry on with the normal stream; then="close": end the
    chunked body (no finish chunk, no [DONE]) and close the connection.
    """

    after_chunks: int = 3
    then: str = "continue"


@dataclass(frozen=True)
class Deltas(Behaviour):
    """Streams exactly these ``choices[0].delta`` objects, one chunk each (content, ``reasoning_content``,
    ``tool_calls`` fragments, ...), then ``finish`` and the usage (one completion token per delta). Buffered, the
    message holds the joined content and the tool calls put together by index. ``tool_call_deltas`` builds the
    fragments of tool calls as servers send them."""

    deltas: tuple[dict, ...] = ()
    finish: str = "stop"
    chunk_delay_s: float | None = None
    after_s: float = 0.0  # silence after the last delta, before the finish chunk
    # instead of the finish: "stall" (silence for after_s, then nothing more), "reset" (TCP reset), "malformed"
    # (`data: {not json` and the connection closed)
    fault: str = ""


def tool_call_deltas(*calls: tuple[str, str, str], pieces: int = 1, interleave: bool = False) -> tuple[dict, ...]:
    """(id, name, arguments) per call -> the fragments: the first names the call (index, id, type, name), then the
    arguments cut into ``pieces`` parts; calls one after the other, or round-robin with ``interleave``."""
    per_call = []
    for index, (call_id, name, arguments) in enumerate(calls):
        size = max(1, -(-len(arguments) // pieces))
        fragments = [
            {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}},
            *(
                {"index": index, "function": {"arguments": arguments[i : i + size]}}
                for i in range(0, len(arguments), size)
            ),
        ]
        per_call.append([{"tool_calls": [f]} for f in fragments])
    if not interleave:
        return tuple(d for deltas in per_call for d in deltas)
    out = []
    for row in range(max(map(len, per_call))):
        out.extend(deltas[row] for deltas in per_call if row < len(deltas))
    return tuple(out)


BehaviourLike = str | int | Behaviour | dict

_BEHAVIOUR_TYPES: dict[str, type] = {
    c.__name__: c for c in (Ok, Spend, Status, SlowFirstByte, StallMidStream, ResetMidStream, MalformedChunk, Deltas)
}

_OK = Ok()


def coerce_behaviour(b: BehaviourLike) -> Behaviour:
    """ "ok" | "429" | 500 | Behaviour | {"type": "StallMidStream", ...} -> Behaviour."""
    if isinstance(b, Behaviour):
        return b
    if isinstance(b, int):
        return Status(b, retry_after=1 if b == 429 else None)
    if isinstance(b, str):
        if b == "ok":
            return _OK
        if b.isdigit() and len(b) == 3:
            code = int(b)
            return Status(code, retry_after=1 if code == 429 else None)
        raise ValueError(f"unknown behaviour string {b!r}")
    if isinstance(b, dict):
        d = dict(b)
        kind = d.pop("type", None)
        if "deltas" in d:
            d["deltas"] = tuple(d["deltas"])
        cls = _BEHAVIOUR_TYPES.get(kind or "")
        if cls is None:
            raise ValueError(f"unknown behaviour {b!r}")
        return cls(**d)
    raise TypeError(f"not a behaviour: {b!r}")


def _behaviour_to_json(b: Behaviour) -> dict:
    d = asdict(b)  # type: ignore[call-overload]
    d["type"] = type(b).__name__
    return d
