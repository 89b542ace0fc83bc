"""What the client-side tool tests share (tests/functional/test_client_tools*.py): ChatFunction's container and the
test tools (tests.support.tools) with a proof secret, as the fixtures `chat_function` and `tools` (and `offer`, for
the tools of tests.support.tools_more), which a test module imports to use; the chat post, the first step that calls
tools, and the assistant message useChat posts back."""

from __future__ import annotations

import json

import pytest

from airelay.settings import get_settings
from airelay.tools import catalog
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.functional.test_chat_function import sse_parts
from tests.support.upstream import Deltas, tool_call_deltas

QUESTION = '{"question":"Which color?"}'


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


@pytest.fixture
def tools(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=weather+pick_color")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    monkeypatch.setenv("TOOL_PROOF_SECRET", "s" * 32)
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


@pytest.fixture
def offer(upstream, monkeypatch):
    """Offers the persona the named tools of tests.support.tools_more, with a proof secret: `offer(*names)` gives the
    fake upstream."""

    def offer(*names: str):
        monkeypatch.setenv("CHAT_TOOLS", f"assistant={'+'.join(names)}")
        monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools_more")
        monkeypatch.setenv("TOOL_PROOF_SECRET", "s" * 32)
        get_settings.cache_clear()
        catalog.available.cache_clear()
        return upstream

    yield offer
    catalog.available.cache_clear()


def post(container, body: dict) -> tuple[int, str]:
    event = load_event("chat_stream_usechat")
    event["body"] = json.dumps(body)
    response = container.invoke(event).result(timeout=30)
    return response["statusCode"], response["body"]


USER = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Pick a color for me."}]}


def first_step(container, upstream, *calls: tuple[str, str, str]) -> list[dict]:
    upstream.script(Deltas(tool_call_deltas(*calls, pieces=3), finish="tool_calls"))
    status, body = post(container, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    return sse_parts(body)


def call_id(parts: list[dict], name: str) -> str:
    """The id the server gave the call of tool `name`: one of its own, never the upstream's."""
    return next(p["toolCallId"] for p in parts if p["type"] == "tool-input-start" and p["toolName"] == name)


def assistant_message(parts: list[dict], outputs: dict[str, object], failed_input: str = "input") -> dict:
    """The assistant message useChat keeps from these parts, each client call given its output by addToolOutput.
    `failed_input`: the field a call that could not run keeps its input in (ai 7 `input`, ai 5 and 6 `rawInput`)."""
    message = {"id": parts[0]["messageId"], "role": "assistant", "parts": []}
    calls = {}
    for part in parts:
        kind = part["type"]
        if kind == "start-step":
            message["parts"].append({"type": "step-start"})
        elif kind == "tool-input-available":
            call = {"type": f"tool-{part['toolName']}", "toolCallId": part["toolCallId"], "input": part["input"]}
            call["state"] = "input-available"
            if part.get("providerExecuted"):
                call["providerExecuted"] = True
            calls[part["toolCallId"]] = call
            message["parts"].append(call)
        elif kind == "tool-input-error":
            call = {"type": f"tool-{part['toolName']}", "toolCallId": part["toolCallId"], "state": "output-error"}
            call.update({failed_input: part["input"], "errorText": part["errorText"], "providerExecuted": True})
            message["parts"].append(call)
        elif kind == "tool-output-available":
            calls[part["toolCallId"]].update(state="output-available", output=part["output"])
        elif kind == "data-tool-proof":
            message["parts"].append({"type": kind, "id": part["id"], "data": part["data"]})
    for call_id, output in outputs.items():
        calls[call_id].update(state="output-available", output=output)
    return message
