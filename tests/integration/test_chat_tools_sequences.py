"""Server-side tools and steps through the local API, the fault-injecting upstream scripted with tool calls: a tool's
round trip, two tools in one step, calls that cannot run, tools that fail, more steps than allowed, reasoning, the
built-in tools on the real local models. Each case ends in a defined part sequence (docs/tools.md), and the real
`ai` package accepts every one of them: the last test replays every body recorded here and in
test_chat_tools_interruptions.py (which runs before this module)."""

import base64
import json

import httpx
import pytest
from pydantic import TypeAdapter

from airelay.openapi_stream import StreamPart
from tests.e2e.stack import run_node
from tests.support.chat_tools import (
    ANSWER,
    RECORDED,
    TAIL,
    WEATHER,
    api,
    chat,
    clean,
    squeezed,
    types,
    upstream,
    upstream_settings,
)
from tests.support.upstream import Deltas, Ok, tool_call_deltas

from .test_chat_faults import stream_parts

__all__ = ["api", "clean", "upstream"]  # the fixtures of tests/support/chat_tools.py, shared


def test_server_tool_round_trip_with_arguments_across_many_chunks(api, upstream, tmp_path):
    # GIVEN a model that calls `weather` with its arguments cut into 8 pieces, then answers
    upstream.script(Deltas(tool_call_deltas(("call_1", "weather", WEATHER), pieces=8), finish="tool_calls"), ANSWER)
    # WHEN the chat streams
    parts = chat(api, "round_trip")
    # THEN two steps: the tool's input streamed and its output, then the answer
    assert squeezed(types(parts)) == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "source-document",
        "data-tool-proof",
        "finish-step",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        *TAIL,
    ]
    deltas = [p["inputTextDelta"] for p in parts[:-1] if p["type"] == "tool-input-delta"]
    assert len(deltas) == 6 and "".join(deltas) == WEATHER  # 17 characters in pieces of 3, one part each
    available = next(p for p in parts[:-1] if p["type"] == "tool-input-available")
    call_id = available["toolCallId"]  # the server's own: an upstream's ids may repeat across steps
    assert call_id != "call_1" and call_id.startswith("call_")
    assert available == {
        "type": "tool-input-available",
        "toolCallId": call_id,
        "toolName": "weather",
        "input": {"city": "Seoul"},
        "providerExecuted": True,
    }
    output = next(p for p in parts[:-1] if p["type"] == "tool-output-available")
    assert output["output"] == {"city": "Seoul", "sky": "clear"}
    finish = parts[-2]
    assert finish["finishReason"] == "stop" and finish["messageMetadata"]["steps"] == 2
    # AND the second upstream call carried the tool call and its result, in OpenAI's shape
    first, second = upstream.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["weather", "explode", "sleepy", "big", "slow"]
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"] == [
        {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": WEATHER}}
    ]
    assert tool == {"role": "tool", "tool_call_id": call_id, "content": '{"city": "Seoul", "sky": "clear"}'}


def test_two_tools_in_one_step_interleaved(api, upstream):
    calls = tool_call_deltas(
        ("c1", "weather", WEATHER), ("c2", "weather", '{"city": "Busan"}'), pieces=3, interleave=True
    )
    upstream.script(Deltas(calls, finish="tool_calls"), ANSWER)
    parts = chat(api, "parallel")
    started = [(p["toolCallId"], p["toolName"]) for p in parts[:-1] if p["type"] == "tool-input-start"]
    ids = [call_id for call_id, _ in started]
    assert len(set(ids)) == 2 and [name for _, name in started] == ["weather", "weather"]
    outputs = [p["toolCallId"] for p in parts[:-1] if p["type"] == "tool-output-available"]
    assert outputs == ids
    tool_messages = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ids


@pytest.mark.parametrize(
    "call,error",
    [
        (("c1", "weather", '{"city": "Seo'), "not valid JSON"),
        (("c1", "teleport", WEATHER), "no tool named 'teleport'"),
        (("c1", "weather", '{"town": "Seoul"}'), "do not fit its input"),
    ],
    ids=["malformed-json", "unknown-tool", "wrong-input"],
)
def test_a_call_that_cannot_run_is_a_tool_input_error_the_model_reads(api, upstream, call, error):
    upstream.script(Deltas(tool_call_deltas(call, pieces=4), finish="tool_calls"), ANSWER)
    parts = chat(api, f"input-error-{call[1]}-{len(call[2])}")
    names = squeezed(types(parts))
    assert names[names.index("tool-input-delta") + 1 :] == [
        "tool-input-error",
        "data-tool-proof",
        "finish-step",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        *TAIL,
    ]
    failed = next(p for p in parts[:-1] if p["type"] == "tool-input-error")
    assert error in failed["errorText"] and failed["input"] == call[2]
    assert error in json.loads(upstream.requests[1]["messages"][-1]["content"])["error"]


@pytest.mark.parametrize("tool,error", [("explode", "The tool explode failed."), ("sleepy", "longer than 0.2 s")])
def test_a_tool_that_raises_or_times_out_is_a_tool_output_error(api, upstream, tool, error):
    upstream.script(Deltas(tool_call_deltas(("c1", tool, WEATHER)), finish="tool_calls"), ANSWER)
    parts = chat(api, f"output-error-{tool}")
    names = squeezed(types(parts))
    assert names[names.index("tool-input-available") + 1 :][:4] == [
        "tool-output-error",
        "data-tool-proof",
        "finish-step",
        "start-step",
    ]
    failed = next(p for p in parts[:-1] if p["type"] == "tool-output-error")
    assert error in failed["errorText"] and "secret" not in failed["errorText"]
    assert parts[-2]["type"] == "finish"


def test_more_steps_than_allowed_end_with_finish_reason_tool_calls(api, upstream, module_local_api):
    looping = Deltas(tool_call_deltas(("c1", "weather", WEATHER)), finish="tool_calls")
    upstream.script(looping, looping, looping, looping)
    parts = chat(api, "max-steps")
    assert types(parts).count("start-step") == 3 and types(parts).count("tool-output-available") == 3
    assert types(parts)[-4:] == TAIL
    assert parts[-2]["finishReason"] == "tool-calls" and parts[-2]["messageMetadata"]["steps"] == 3
    assert len(upstream.requests) == 3


def test_reasoning_fields_and_think_tags_become_reasoning_parts(api, upstream):
    upstream.script(Deltas(({"reasoning_content": "Let me "}, {"reasoning_content": "think."}, {"content": "Hi."})))
    parts = chat(api, "reasoning-field")
    assert squeezed(types(parts))[2:7] == [
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
    ]
    upstream.script(Ok(tokens=("<thi", "nk>hm</th", "ink>", "Hi.")))
    parts = chat(api, "reasoning-tags")
    reasoning = "".join(p["delta"] for p in parts[:-1] if p["type"] == "reasoning-delta")
    text = "".join(p["delta"] for p in parts[:-1] if p["type"] == "text-delta")
    assert (reasoning, text) == ("hm", "Hi.")


def test_built_in_tools_on_an_attached_image_and_a_text_in_one_step(local_api, upstream, tmp_path):
    # GIVEN analyze_sentiment and classify_image offered, and a useChat message with an attached photo
    from tests.support.photos import jpeg_bytes

    api = local_api(
        **upstream_settings(upstream),
        CHAT_TOOLS="assistant=analyze_sentiment+classify_image",
        USAGE_DB_PATH=str(tmp_path / "usage.sqlite3"),
    )
    photo = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes()).decode()
    body = {
        "messages": [
            {
                "id": "u1",
                "role": "user",
                "parts": [{"type": "file", "mediaType": "image/jpeg", "url": photo}, {"type": "text", "text": "Nice?"}],
            }
        ]
    }
    calls = tool_call_deltas(
        ("s1", "analyze_sentiment", '{"text": "I love this, it is wonderful!"}'), ("i1", "classify_image", "{}")
    )
    upstream.script(Deltas(calls, finish="tool_calls"), ANSWER)
    # WHEN the model calls both in one step
    parts = chat(api, "built-in-tools", body)
    # THEN both ran on the real local models
    names = {p["toolCallId"]: p["toolName"] for p in parts[:-1] if p["type"] == "tool-input-start"}
    outputs = {names[p["toolCallId"]]: p["output"] for p in parts[:-1] if p["type"] == "tool-output-available"}
    assert outputs["analyze_sentiment"]["sentiment"] == "positive"
    labels = outputs["classify_image"]["labels"]
    assert len(labels) == 5 and all(0 <= x["score"] <= 1 for x in labels)
    assert any(word in labels[0]["label"].lower() for word in ("espresso", "cup", "coffee")), labels
    assert parts[-2]["type"] == "finish" and parts[-2]["messageMetadata"]["steps"] == 2


def test_the_real_ai_package_accepts_every_sequence(tmp_path):
    # GIVEN the bodies every test above received (this runs last in the module)
    assert len(RECORDED) >= 10, sorted(RECORDED)
    for name, body in RECORDED.items():
        (tmp_path / f"{name}.sse").write_bytes(body)
    # WHEN ai's own client (DefaultChatTransport + readUIMessageStream) reads them
    seen = run_node(["tests/support/accept_ui_stream.mjs", str(tmp_path)])
    # THEN each validates and assembles; the only errors are the error parts that were sent
    for name, result in seen.items():
        sent_errors = [
            p["errorText"]
            for p in stream_parts(httpx.Response(200, content=RECORDED[name]))[:-1]
            if p["type"] == "error"
        ]
        assert result["errors"] == sent_errors, (name, result)
        tool_parts = [p for p in result["parts"] if p["type"].startswith("tool-")]
        assert all(p["providerExecuted"] for p in tool_parts), (name, result)
        assert all(p["state"] in ("output-available", "output-error") for p in tool_parts), (name, result)
    assert seen["round_trip"]["metadata"]["steps"] == 2
    # AND every part is one the OpenAPI document describes
    described = TypeAdapter(StreamPart)
    for body in RECORDED.values():
        for part in stream_parts(httpx.Response(200, content=body))[:-1]:
            described.validate_python(part)
    assert [p["type"] for p in seen["round_trip"]["parts"]] == [
        "step-start",
        "tool-weather",
        "source-document",
        "data-tool-proof",
        "step-start",
        "text",
    ]
