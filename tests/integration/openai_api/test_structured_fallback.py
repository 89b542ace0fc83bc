"""Structured output survives fallback beyond a buffered chat answer (test_sdk.py): a streamed request skips the model
without structured output, a fallback reached through a 5xx whose answer is prose is the 502, never that prose, and a
Responses stream whose answer breaks `text.format` ends with an error."""

import openai
import pytest
from pydantic import BaseModel

from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream import Ok, Status

CHAIN = {
    "ALLOWED_CHAT_MODELS": "openai/gpt-4.1-mini",
    "CHAT_FALLBACK_MODELS": "openai/gpt-4.1-nano,openai/gpt-4.1-mini",
    "NO_STRUCTURED_OUTPUT_MODELS": "openai/gpt-4.1-nano",
}


class Weather(BaseModel):
    city: str
    celsius: int


SCHEMA = {"type": "json_schema", "json_schema": {"name": "w", "schema": Weather.model_json_schema()}}


def test_a_streamed_request_skips_the_incapable_fallback(start, upstream, tmp_path):
    client = openai.OpenAI(base_url=start(**CHAIN), api_key=KEY, max_retries=0)
    # GIVEN the first model fails before its first token, the capable fallback answers in JSON
    upstream.script(Status(503), Ok(tokens=('{"city": "Seoul", "celsius": 21}',)))
    # WHEN the answer is streamed
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=SCHEMA, stream=True)
    )
    # THEN it is the capable model's JSON; the model without structured output was never asked
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert Weather.model_validate_json(text) == Weather(city="Seoul", celsius=21)
    assert [r["model"] for r in upstream.requests] == ["gpt-4o-mini", "gpt-4.1-mini"]


def test_a_streamed_fallbacks_prose_ends_in_an_error_never_a_clean_stop(start, upstream, tmp_path):
    client = openai.OpenAI(base_url=start(**CHAIN), api_key=KEY, max_retries=0)
    upstream.script(Status(503), Ok(tokens=("Sure! ", "It is sunny.")))
    chunks = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, response_format=SCHEMA, stream=True
        ):
            chunks.append(chunk)
    assert broken.value.body.get("code") == "invalid_structured_output"
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    assert sorted(r.status for r in rows(tmp_path, 2)) == ["error", "error"]


@pytest.mark.upstream_failure
def test_a_buffered_fallbacks_prose_after_a_5xx_is_the_502_never_the_prose(start, upstream, tmp_path):
    client = openai.OpenAI(base_url=start(**CHAIN), api_key=KEY, max_retries=0)
    upstream.script(Status(503), Ok(tokens=("It is sunny.",)))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Weather)
    assert raised.value.status_code == 502 and raised.value.code == "invalid_structured_output"
    assert set(raised.value.body) >= {"message", "type", "param", "code"}
    assert "sunny" not in raised.value.message
    assert [r["model"] for r in upstream.requests] == ["gpt-4o-mini", "gpt-4.1-mini"]


def test_a_streamed_response_that_breaks_text_format_ends_with_an_error_event(client, upstream, tmp_path):
    upstream.script(Ok(tokens=('{"city": 5}',)))
    text = {"format": {"type": "json_schema", "name": "w", "schema": Weather.model_json_schema()}}
    events = []
    with pytest.raises(openai.APIError) as broken:
        for event in client.responses.create(model="gpt-4o-mini", input="Weather?", text=text, stream=True):
            events.append(event)
    assert broken.value.body.get("code") == "invalid_structured_output"
    assert not {"response.completed", "response.incomplete"} & {e.type for e in events}
    [row] = rows(tmp_path)
    assert row.status == "error" and row.completion_tokens > 0
