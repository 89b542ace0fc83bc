"""/v1/responses' refusals name its own fields (`param` is a path in the request): `text.format` for a bad or unsupported
structured output, `instructions` or `input.<n>` for a system message the policy refuses, never chat completions'
`response_format` or `messages`."""

import openai
import pytest

from tests.integration.openai_api.conftest import KEY

FORMATS = {
    "schema without a name": {"type": "json_schema", "schema": {"type": "object"}},
    "invalid schema": {"type": "json_schema", "name": "x", "schema": {"type": 7}},
    "unknown type": {"type": "yaml"},
}


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS.keys())
def test_a_bad_text_format_is_a_400_naming_text_format(client, upstream, fmt):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-4o-mini", input="Hi", text={"format": fmt})
    assert refused.value.param is not None and refused.value.param.startswith("text.format"), refused.value.param
    assert "response_format" not in refused.value.message
    assert upstream.requests == []


def test_a_text_format_to_a_model_without_structured_output_names_text_format(start, upstream):
    base = start(NO_STRUCTURED_OUTPUT_MODELS="openai/gpt-4o-mini")
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    text = {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-4o-mini", input="Hi", text=text)
    assert (refused.value.param or "").startswith("text.format"), refused.value.param
    assert upstream.requests == []


def test_refused_instructions_are_a_400_naming_instructions(start, upstream):
    # GIVEN the `refuse` system prompt policy
    client = openai.OpenAI(base_url=start(SYSTEM_PROMPT_POLICY="refuse"), api_key=KEY, max_retries=0)
    # WHEN a Responses request carries `instructions` (its system message)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="gpt-4o-mini", input="Hi", instructions="Be brief.")
    # THEN the 400 names the parameter the client sent
    assert refused.value.code == "system_refused"
    assert refused.value.param == "instructions", refused.value.param
    assert upstream.requests == []


def test_a_refused_developer_item_in_responses_input_names_the_input(start, upstream):
    client = openai.OpenAI(base_url=start(SYSTEM_PROMPT_POLICY="refuse"), api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="gpt-4o-mini", input=[{"role": "developer", "content": "x"}, {"role": "user", "content": "Hi"}]
        )
    assert refused.value.code == "system_refused"
    assert (refused.value.param or "").startswith("input"), refused.value.param
    assert upstream.requests == []
