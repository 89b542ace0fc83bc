"""The UI message stream encoder, read back through a real SSE parser, whole and split at every byte."""

import codecs
import json

import pytest
from httpx_sse._decoders import SSEDecoder

from airelay.streaming import UIMessageStream

TRICKY = ["안녕", "하세요", "\n", "line1\nline2", "\n\n", "data: [DONE]", "👋🏽", "\r\n", "event: x", '"quoted"', "\\"]


def encode_all(deltas, reason="stop"):
    stream = UIMessageStream("msg_test")
    usage = {"inputTokens": 3, "outputTokens": len(deltas)}
    body = stream.start() + stream.start_step() + b"".join(stream.delta(d) for d in deltas)
    return body + stream.finish_step() + stream.finish(reason, usage)


def parse(chunks):
    """Decode SSE from arbitrary byte chunks the way a browser client should: incremental UTF-8, line buffering."""
    decoder, utf8, buffer, events = SSEDecoder(), codecs.getincrementaldecoder("utf-8")(), "", []
    for chunk in chunks:
        buffer += utf8.decode(chunk)
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            event = decoder.decode(line.rstrip("\r"))
            if event is not None:
                events.append(event.data)
    return events


def parts_of(events):
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_round_trip_keeps_every_token_exactly():
    # GIVEN deltas with newlines, a literal [DONE], Korean, emoji and CRLF
    # WHEN they are encoded and parsed back
    parts = parts_of(parse([encode_all(TRICKY)]))
    # THEN the text is exactly what went in, and the parts follow the protocol
    deltas = [p["delta"] for p in parts if p["type"] == "text-delta"]
    assert deltas == TRICKY
    assert [p["type"] for p in parts if p["type"] != "text-delta"] == [
        "start",
        "start-step",
        "text-start",
        "text-end",
        "finish-step",
        "data-usage",
        "finish",
    ]
    assert parts[-1] == {"type": "finish", "finishReason": "stop"}
    usage = next(p for p in parts if p["type"] == "data-usage")
    assert usage["transient"] is True


def test_each_event_is_one_data_line():
    body = encode_all(TRICKY)
    for event in body.split(b"\n\n")[:-1]:
        assert event.startswith(b"data: ") and b"\n" not in event


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_split_at_every_boundary(size):
    body = encode_all(TRICKY)
    for offset in range(size):
        chunks = [body[:offset]] + [body[i : i + size] for i in range(offset, len(body), size)]
        deltas = [p["delta"] for p in parts_of(parse(chunks)) if p["type"] == "text-delta"]
        assert "".join(deltas) == "".join(TRICKY)


def test_error_is_never_a_normal_finish():
    stream = UIMessageStream("msg_e")
    body = stream.start() + stream.delta("partial") + stream.error("The stream broke off.", {"outputTokens": 1})
    parts = parts_of(parse([body]))
    types = [p["type"] for p in parts]
    assert "finish" not in types and "text-end" not in types
    assert parts[-1] == {"type": "error", "errorText": "The stream broke off."}


def test_a_number_json_cannot_write_is_sent_as_null():
    # GIVEN a tool input holding NaN and infinities (a model's arguments may: Python's json reads NaN and 1e400)
    stream = UIMessageStream("msg_n")
    arguments = {"x": float("nan"), "y": [float("inf"), -float("inf"), 1.5]}
    # WHEN it is encoded
    body = stream.start() + stream.tool_input("call_1", "f", arguments) + stream.finish("stop", {})

    # THEN every event is strict JSON, with null where JavaScript's JSON.stringify writes it
    def refuse(constant):
        raise ValueError(constant)

    parts = [json.loads(e, parse_constant=refuse) for e in parse([body])[:-1]]
    assert parts[1]["input"] == {"x": None, "y": [None, None, 1.5]}
