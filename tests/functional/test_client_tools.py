"""Client-side tools through ChatFunction's handler: the step that calls one ends with finish reason `tool-calls`,
and the conversation posted back with the output (as useChat's addToolOutput + sendAutomaticallyWhen post it)
continues, counting on from the answer's last step. What a client may not post back is in
test_client_tools_tampering.py."""

from __future__ import annotations

import copy
import json
import subprocess

import boto3
import pytest

from airelay import aws
from airelay.settings import get_settings
from airelay.steps import TOOL_OUTPUT_MAX_CHARS
from airelay.tools.client import Proofs
from tests.support.aws import moto_server
from tests.support.client_tools import (
    QUESTION,
    USER,
    assistant_message,
    call_id,
    chat_function,
    first_step,
    offer,
    post,
    tools,
)
from tests.support.upstream import Deltas, Ok, tool_call_deltas

from .test_chat_function import sse_parts, usage_rows

__all__ = ["chat_function", "offer", "tools"]  # the fixtures of tests/support/client_tools.py, shared


def test_a_client_tool_ends_the_step_and_the_posted_output_continues_the_answer(chat_function, tools):
    # GIVEN the model calls the client-side tool pick_color
    parts = first_step(chat_function, tools, ("call_pick", "pick_color", QUESTION))
    kinds = [p["type"] for p in parts]
    # THEN the browser is asked to run it: input parts without providerExecuted, a proof, finish reason tool-calls
    pick = call_id(parts, "pick_color")
    start = next(p for p in parts if p["type"] == "tool-input-start")
    assert start == {"type": "tool-input-start", "toolCallId": pick, "toolName": "pick_color"}
    available = next(p for p in parts if p["type"] == "tool-input-available")
    assert available["input"] == {"question": "Which color?"} and "providerExecuted" not in available
    assert "tool-output-available" not in kinds
    assert kinds[-3:] == ["finish-step", "data-usage", "finish"]
    assert parts[-1]["finishReason"] == "tool-calls"
    # WHEN useChat posts the conversation again with the output addToolOutput gave
    tools.script(Ok())
    message = assistant_message(parts, {pick: {"color": "blue"}})
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    # THEN the answer goes on in the same message, and the model read the call and its output as data
    assert status == 200, body
    continued = sse_parts(body)
    assert continued[0] == {"type": "start", "messageId": message["id"]}
    assert continued[-1]["finishReason"] == "stop"
    sent = tools.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[2]["tool_calls"][0]["function"] == {"name": "pick_color", "arguments": '{"question": "Which color?"}'}
    assert sent[3] == {"role": "tool", "tool_call_id": pick, "content": '{"color": "blue"}'}
    assert [r.status for r in usage_rows()] == ["ok", "ok"]


def test_a_server_tool_beside_a_client_tool_runs_and_its_proven_output_is_accepted_back(chat_function, tools):
    parts = first_step(
        chat_function, tools, ("call_wx", "weather", '{"city":"Seoul"}'), ("call_pick", "pick_color", QUESTION)
    )
    outputs = [p for p in parts if p["type"] == "tool-output-available"]
    assert [o["toolCallId"] for o in outputs] == [call_id(parts, "weather")]
    assert parts[-1]["finishReason"] == "tool-calls"
    tools.script(Ok())
    message = assistant_message(parts, {call_id(parts, "pick_color"): {"color": "red"}})
    status, _ = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    assert status == 200
    sent = tools.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "tool"]
    assert json.loads(sent[3]["content"]) == {"city": "Seoul", "sky": "clear"}


BAD_ARGUMENTS = ("call_bad", "weather", '{"town":"Seoul"}')  # not the tool's input
UNKNOWN_TOOL = ("call_bad", "no_such_tool", '{"city":"Seoul"}')  # not a tool of this persona


@pytest.mark.parametrize("failed_input", ["input", "rawInput"], ids=["ai7", "ai5-ai6"])
@pytest.mark.parametrize(
    ("bad_call", "same_step"), [(BAD_ARGUMENTS, False), (UNKNOWN_TOOL, True)], ids=["bad-arguments", "unknown-tool"]
)
def test_a_call_that_could_not_run_does_not_stop_the_continuation(
    chat_function, tools, bad_call, same_step, failed_input
):
    # GIVEN a model that makes a call that cannot run, then (in the same step or the next) calls pick_color
    pick = ("call_pick", "pick_color", QUESTION)
    if same_step:
        tools.script(Deltas(tool_call_deltas(bad_call, pick), finish="tool_calls"))
    else:
        tools.script(*(Deltas(tool_call_deltas(c), finish="tool_calls") for c in (bad_call, pick)))
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    assert [p["type"] for p in parts].count("tool-input-error") == 1
    # WHEN useChat posts the message back with the browser's output, the failed call kept the way this `ai` keeps it
    tools.script(Ok())
    message = assistant_message(parts, {call_id(parts, "pick_color"): {"color": "blue"}}, failed_input)
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    # THEN the answer goes on, and the model reads the failed call as it made it, with the server's error
    assert status == 200, body
    sent = tools.requests[-1]["messages"]
    failed = next(m for m in sent if m["role"] == "assistant" and m["tool_calls"][0]["function"]["name"] == bad_call[1])
    assert failed["tool_calls"][0]["function"]["arguments"] == bad_call[2]
    error = next(m for m in sent if m.get("tool_call_id") == failed["tool_calls"][0]["id"])
    assert "error" in json.loads(error["content"])


def test_calls_the_upstream_numbers_per_response_keep_their_own_ids_and_the_answer_continues(chat_function, tools):
    # GIVEN an upstream that names the first call of every response "call_0": weather in step 1, pick_color in step 2
    weather = Deltas(tool_call_deltas(("call_0", "weather", '{"city":"Seoul"}')), finish="tool_calls")
    pick = Deltas(tool_call_deltas(("call_0", "pick_color", QUESTION)), finish="tool_calls")
    tools.script(weather, pick, Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    # THEN each call of the message has an id of its own
    wx_id, pick_id = call_id(parts, "weather"), call_id(parts, "pick_color")
    assert wx_id != pick_id
    # AND the browser's output posted back continues the answer, the model reading the server tool's output as it
    # did in the step after the call
    message = assistant_message(parts, {pick_id: {"color": "blue"}})
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    assert status == 200, body
    results = {
        m["tool_call_id"]: json.loads(m["content"]) for m in tools.requests[-1]["messages"] if m["role"] == "tool"
    }
    assert results == {wx_id: {"city": "Seoul", "sky": "clear"}, pick_id: {"color": "blue"}}
    read_before = next(m for m in tools.requests[1]["messages"] if m["role"] == "tool")
    assert read_before in tools.requests[-1]["messages"]


def test_a_client_tool_round_trip_keeps_counting_the_answers_steps(chat_function, tools, monkeypatch):
    # GIVEN CHAT_MAX_STEPS=2 and a model that calls weather (step 1), then pick_color in the browser (step 2)
    monkeypatch.setenv("CHAT_MAX_STEPS", "2")
    get_settings.cache_clear()
    weather = Deltas(tool_call_deltas(("call_wx", "weather", '{"city":"Seoul"}')), finish="tool_calls")
    pick = Deltas(tool_call_deltas(("call_pick", "pick_color", QUESTION)), finish="tool_calls")
    tools.script(weather, pick)
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    proofs = {p["id"]: p["data"] for p in parts if p["type"] == "data-tool-proof"}
    wx_id, pick_id = call_id(parts, "weather"), call_id(parts, "pick_color")
    assert proofs[wx_id]["step"] == 1 and proofs[pick_id]["step"] == 2
    assert parts[-1]["finishReason"] == "tool-calls" and parts[-1]["messageMetadata"]["steps"] == 2
    # AND the last step was offered no tool call (this model called one all the same)
    assert [r.get("tool_choice") for r in tools.requests] == [None, "none"]
    # WHEN useChat posts the browser's output back
    message = assistant_message(parts, {pick_id: {"color": "blue"}})
    asked = len(tools.requests)
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    # THEN the answer has used its 2 steps: a clear 422, no upstream call, no row
    assert status == 422, body
    assert json.loads(body)["error"]["code"] == "chat_max_steps_reached"
    assert len(tools.requests) == asked and len(usage_rows()) == 2
    # and a client that rewrites the signed step, or drops the earlier step, cannot reset the count
    forged = copy.deepcopy(message)
    next(p for p in forged["parts"] if p.get("id") == pick_id)["data"]["step"] = 1
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, forged], "trigger": "submit-message"})
    assert status == 422 and json.loads(body)["error"]["code"] == "tool_call_not_issued"
    last_only = copy.deepcopy(message)
    last_only["parts"] = [p for p in last_only["parts"] if wx_id not in (p.get("toolCallId"), p.get("id"))]
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, last_only], "trigger": "submit-message"})
    assert status == 422 and json.loads(body)["error"]["code"] == "chat_max_steps_reached"
    assert len(tools.requests) == asked


def test_a_continued_answer_counts_on_from_its_last_step(chat_function, tools, monkeypatch):
    # GIVEN CHAT_MAX_STEPS=3 and the browser's pick_color in step 1
    monkeypatch.setenv("CHAT_MAX_STEPS", "3")
    get_settings.cache_clear()
    parts = first_step(chat_function, tools, ("call_pick", "pick_color", QUESTION))
    # WHEN the continued answer calls weather on and on
    again = [
        Deltas(tool_call_deltas((f"call_wx{n}", "weather", '{"city":"Seoul"}')), finish="tool_calls") for n in (2, 3)
    ]
    tools.script(*again, Ok())
    message = assistant_message(parts, {call_id(parts, "pick_color"): {"color": "blue"}})
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    # THEN it makes steps 2 and 3 only, and ends there with reason tool-calls: 3 steps for the whole answer
    assert status == 200, body
    continued = sse_parts(body)
    steps = [p["data"]["step"] for p in continued if p["type"] == "data-tool-proof"]
    assert steps == [2, 3]
    assert continued[-1]["finishReason"] == "tool-calls" and continued[-1]["messageMetadata"]["steps"] == 3
    assert [r.get("tool_choice") for r in tools.requests[-2:]] == [None, "none"]  # step 3, the last: no tool call
    assert [r.status for r in usage_rows()] == ["ok", "ok", "ok"]


def test_the_proof_secret_is_read_from_ssm_by_name_as_on_aws(chat_function, tools, monkeypatch):
    # GIVEN no TOOL_PROOF_SECRET, only the name of the SSM SecureString that holds it (the template's way)
    secret = "proof-secret-" + "p" * 40
    with moto_server(monkeypatch):
        boto3.client("ssm").put_parameter(Name="/airelay/tool-proof-secret", Value=secret, Type="SecureString")
        monkeypatch.setenv("TOOL_PROOF_SECRET", "")
        monkeypatch.setenv("TOOL_PROOF_SECRET_PARAM", "/airelay/tool-proof-secret")
        get_settings.cache_clear()
        # WHEN the model calls the browser's tool, and useChat posts its output back
        parts = first_step(chat_function, tools, ("call_pick", "pick_color", QUESTION))
        tools.script(Ok())
        message = assistant_message(parts, {call_id(parts, "pick_color"): {"color": "blue"}})
        status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    aws.reset()  # the SSM client made against moto goes with it
    # THEN the proof is the HMAC under the parameter's secret, and the answer went on with it
    proof = next(p["data"] for p in parts if p["type"] == "data-tool-proof")
    expected = Proofs(secret.encode(), "chat_1", message["id"]).of(
        call_id(parts, "pick_color"), "pick_color", {"question": "Which color?"}, None, 1
    )
    assert proof == expected
    assert status == 200, body


def through_javascript(value: object) -> object:
    """What a browser gives back: the value parsed and serialised by JavaScript's own JSON (node)."""
    script = (
        "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>process.stdout.write(JSON.stringify(JSON.parse(s))))"
    )
    done = subprocess.run(["node", "-e", script], input=json.dumps(value), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_a_server_tool_output_with_a_64_bit_number_comes_back_through_javascript_and_continues(chat_function, offer):
    """GIVEN a step where the model calls the server tool `order` (its output holds the id 9007199254740993, past
    2**53, which JavaScript reads as 9007199254740992) and the client tool `pick_color`
    WHEN useChat posts the conversation back with the color, untouched but for JavaScript's own JSON
    THEN the answer goes on (200): the outcome proof holds over the output as JavaScript gives it back."""
    upstream = offer("order", "pick_color")
    parts = first_step(
        chat_function, upstream, ("c1", "order", '{"city": "Seoul"}'), ("c2", "pick_color", '{"question": "Which?"}')
    )
    message = through_javascript(assistant_message(parts, {call_id(parts, "pick_color"): {"color": "blue"}}))
    upstream.script(Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    assert status == 200, body


def test_a_client_tool_input_with_a_64_bit_number_comes_back_through_javascript_and_continues(chat_function, offer):
    """GIVEN the model calls the client tool `confirm_ticket` with ticket 12345678901234567891 (a valid int for its
    input model, rounded by JavaScript)
    WHEN the browser runs it and useChat posts the conversation back, untouched but for JavaScript's own JSON
    THEN the answer goes on (200): the call proof holds over the input as JavaScript gives it back."""
    upstream = offer("confirm_ticket")
    parts = first_step(chat_function, upstream, ("c1", "confirm_ticket", '{"ticket": 12345678901234567891}'))
    message = through_javascript(assistant_message(parts, {call_id(parts, "confirm_ticket"): {"ok": True}}))
    upstream.script(Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    assert status == 200, body


def test_the_model_reads_a_server_tool_output_after_a_continuation_as_in_the_step_after_the_call(chat_function, offer):
    """GIVEN a step where the model calls the server tool `huge` (60 000 characters of output) and the client tool
    `pick_color`
    WHEN useChat posts the conversation back with the color
    THEN the model's `tool` message for `huge` is what the step after the call reads: the output as the browser was
    sent it (marked as cut) as JSON, at most TOOL_OUTPUT_MAX_CHARS characters."""
    upstream = offer("huge", "pick_color")
    parts = first_step(
        chat_function, upstream, ("c1", "huge", '{"city": "Seoul"}'), ("c2", "pick_color", '{"question": "Which?"}')
    )
    huge = call_id(parts, "huge")
    message = assistant_message(parts, {call_id(parts, "pick_color"): {"color": "blue"}})
    upstream.script(Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER, message], "trigger": "submit-message"})
    assert status == 200, body
    tool_message = next(m for m in upstream.requests[-1]["messages"] if m.get("tool_call_id") == huge)
    sent = {"truncated": True, "text": json.dumps({"text": "y" * 60_000})[:TOOL_OUTPUT_MAX_CHARS]}
    assert tool_message["content"] == json.dumps(sent)[:TOOL_OUTPUT_MAX_CHARS]
