"""A model's refusal under structured output reaches the SDKs as OpenAI sends it (`message.refusal`, `delta.refusal`,
a Responses `refusal` content part and its events): it is the answer, not text to check against the schema, and it is
billed as a finished call."""

import httpx
from pydantic import BaseModel

from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream.behaviours import Deltas

REFUSAL = ("I'm sorry, ", "I cannot help with that.")
DECLINED = "".join(REFUSAL)
FORECAST = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
    "additionalProperties": False,
}


class Forecast(BaseModel):
    summary: str


def refusing(upstream) -> None:
    upstream.script(Deltas(tuple({"refusal": piece} for piece in REFUSAL)))


def test_a_refusal_to_a_parsed_chat_request_is_message_refusal(client, upstream, tmp_path):
    refusing(upstream)
    answer = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Forecast)
    message = answer.choices[0].message
    assert (message.refusal, message.parsed, message.content) == (DECLINED, None, None)
    assert answer.choices[0].finish_reason == "stop"
    [row] = rows(tmp_path)
    assert row.status == "ok" and row.completion_tokens == len(REFUSAL)


def test_a_refusal_in_a_chat_stream_comes_as_refusal_deltas(client, upstream, tmp_path):
    refusing(upstream)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, response_format=Forecast) as stream:
        deltas = [event.delta for event in stream if event.type == "refusal.delta"]
        final = stream.get_final_completion()
    assert deltas and "".join(deltas) == DECLINED  # pieces that arrive in one read are one delta
    assert (final.choices[0].message.refusal, final.choices[0].message.parsed) == (DECLINED, None)
    assert [r.status for r in rows(tmp_path)] == ["ok"]


def test_a_refusal_to_a_responses_request_is_a_refusal_content_part(client, upstream, tmp_path):
    refusing(upstream)
    answer = client.responses.parse(model="gpt-4o-mini", input="Weather in Seoul?", text_format=Forecast)
    [message] = answer.output
    assert [(part.type, part.refusal) for part in message.content] == [("refusal", DECLINED)]
    assert answer.output_parsed is None and answer.status == "completed"
    assert [r.status for r in rows(tmp_path)] == ["ok"]


def test_a_refusal_in_a_responses_stream_has_its_own_events(client, upstream, tmp_path):
    refusing(upstream)
    text = {"format": {"type": "json_schema", "name": "forecast", "schema": FORECAST, "strict": True}}
    with client.responses.stream(model="gpt-4o-mini", input="Weather in Seoul?", text=text) as events:
        seen = [event for event in events]
        final = events.get_final_response()
    kinds = [e.type for e in seen]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "".join(e.delta for e in seen if e.type == "response.refusal.delta") == DECLINED
    [done] = [e for e in seen if e.type == "response.refusal.done"]
    assert done.refusal == DECLINED and kinds[-1] == "response.completed"
    assert [part.type for part in final.output[0].content] == ["refusal"]
    assert [r.status for r in rows(tmp_path)] == ["ok"]


def test_a_refusal_given_back_in_the_input_is_accepted(client, upstream):
    """An SDK that sends the earlier output back (the Agents SDK does) sends its refusal part too."""
    earlier = {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": DECLINED}]}
    answer = client.responses.create(
        model="gpt-4o-mini",
        input=[{"role": "user", "content": "Weather?"}, earlier, {"role": "user", "content": "Why?"}],
    )
    assert answer.status == "completed"


def test_a_refusal_that_is_not_text_ends_the_stream_with_an_error(start, upstream, tmp_path):
    upstream.script(Deltas(({"content": "Hel"}, {"refusal": {"reason": "policy"}})))
    answer = httpx.post(
        f"{start()}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    assert answer.status_code == 200 and "[DONE]" not in answer.text
    assert '"error"' in answer.text and "malformed" in answer.text
    assert [r.status for r in rows(tmp_path)] == ["error"]


def test_a_refusal_to_an_app_chat_is_its_text(start, upstream):
    """The app API has no refusal field: the user reads the refusal as the answer."""
    refusing(upstream)
    base = start().removesuffix("/v1")
    answer = httpx.post(f"{base}/api/chat", json={"message": "hi"}, headers={"x-api-key": KEY}, timeout=20)
    assert answer.status_code == 200 and answer.json()["response"] == DECLINED
