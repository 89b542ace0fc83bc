"""The one-line switch docs/local-models.md gives to a bigger model on a local OpenAI-compatible server (Ollama,
vLLM, llama.cpp), exactly as written there, against the fake upstream standing in for that server."""

from __future__ import annotations

import json
import re
import shlex

import httpx

from tests.support.upstream import FakeUpstream

from .stack import ROOT, ApiProcess

DOC = ROOT / "docs" / "local-models.md"


def switch_line() -> dict[str, str]:
    """The environment of the documented `... make dev` line (between the `<!-- switch -->` markers)."""
    block = re.search(r"<!-- switch -->\n```sh\n(.*?)\n```", DOC.read_text("utf-8"), re.S)
    assert block, "docs/local-models.md lost its switch block"
    words = shlex.split(block[1].replace("\\\n", " "))
    assert words[-2:] == ["make", "dev"]
    return dict(word.split("=", 1) for word in words[:-2])


def test_the_documented_switch_serves_chat_from_the_bigger_model(tmp_path):
    env = switch_line()
    model = env["CHAT_MODEL"].split("/", 1)[1]
    base = env.pop("OPENAI_BASE_URL")
    assert base.startswith("http://127.0.0.1:")
    with FakeUpstream(models=(model,)) as upstream:
        api = ApiProcess(tmp_path, OPENAI_BASE_URL=upstream.base_url, **env)
        try:
            body = {"message": "계좌이체도 되나요?"}
            with httpx.stream("POST", f"{api.url}/api/chat/stream", json=body, timeout=20) as response:
                assert response.status_code == 200
                parts = [json.loads(x[6:]) for x in response.iter_lines() if x.startswith("data: {")]
        finally:
            api.stop()
    text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    assert text == FakeUpstream.REPLY_TEXT and parts[-1]["type"] == "finish"
    (request,) = upstream.requests
    assert request["model"] == model and request["messages"][-1]["content"] == "계좌이체도 되나요?"
