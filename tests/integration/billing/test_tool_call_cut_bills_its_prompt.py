"""A server tool's own model call (analyze_sentiment on SENTIMENT_MODEL=llm/<chat model>) cut while the provider has
its prompt, by the chat's client leaving during the tool run (or by the tool's deadline), is billed that prompt,
estimated (`usage.Reading.if_cut`), as every other call cut that way is (docs/architecture.md, "Streaming, failures
and deadlines")."""

import time

import httpx

from tests.integration.openai_api.conftest import rows
from tests.support.upstream import Deltas, SlowFirstByte, tool_call_deltas

MODEL = "openai/gpt-4o-mini"


def test_a_tool_model_call_cut_by_the_client_leaving_bills_its_prompt(chat_api, upstream, tmp_path):
    # GIVEN a chat whose persona may call analyze_sentiment, which asks the (paid) chat model
    api = chat_api(
        CHAT_MODEL=MODEL,
        UPSTREAM_TIMEOUT_S=20,
        SENTIMENT_MODEL=f"llm/{MODEL}",
        CHAT_TOOLS="assistant=analyze_sentiment",
    )
    # AND a model that calls the tool, then a sentiment call that the provider takes its time to answer
    arguments = '{"text": "The delivery was quick and the box was neat. I am very happy with it."}'
    upstream.script(
        Deltas(tool_call_deltas(("call_1", "analyze_sentiment", arguments)), finish="tool_calls"), SlowFirstByte(30)
    )
    # WHEN the client leaves while the tool runs (the provider has the sentiment prompt)
    with httpx.stream("POST", f"{api}/api/chat/stream", json={"message": "How does this review feel?"}) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if "tool-input-available" in line:
                break
        deadline = time.monotonic() + 5
        while len(upstream.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(upstream.requests) == 2
    # THEN both calls have their rows: the first step, and the sentiment call, cancelled
    found = rows(tmp_path, 2)
    assert sorted(r.status for r in found) == ["cancelled", "ok"], found
    [cut] = [r for r in found if r.status == "cancelled"]
    # AND the sentiment call is billed its prompt, estimated, as any call the provider had the prompt of
    assert cut.prompt_tokens > 0 and cut.estimated and cut.cost_usd > 0, cut
