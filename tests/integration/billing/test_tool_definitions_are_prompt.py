"""/v1: the tool definitions (and a json_schema response_format) a caller sends are prompt tokens the provider reads
and bills (OpenAI counts them in `prompt_tokens`): they are part of the reservation's prompt bound
(`tokens.request_definitions`), so a caller who puts its text into a tool's description (up to the body limit,
256 KB) is held to its budget for it, and billed the tokens the provider reports for it."""

import json

import openai
import pytest

from airelay.tokens import prompt_bound
from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream import Ok, Spend

DESCRIPTION = (
    "Looks up the weather in a city and answers with the sky, the wind and the temperature. " * 1_100
)  # ~96 KB
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": DESCRIPTION,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather",
        "schema": {"type": "object", "description": DESCRIPTION, "properties": {"sky": {"type": "string"}}},
    },
}


RESPONSES_TOOLS = [{"type": "function", **TOOLS[0]["function"]}]
ASKS = {
    "chat-tools": lambda c: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS),
    "chat-response_format": lambda c: c.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format=SCHEMA
    ),
    "responses-tools": lambda c: c.responses.create(model="gpt-4o-mini", input="Say hello.", tools=RESPONSES_TOOLS),
}


@pytest.mark.parametrize("ask", ASKS.values(), ids=ASKS.keys())
def test_a_caller_budget_holds_the_tool_definitions_the_provider_reads(start, upstream, ask):
    # GIVEN a caller budget of $0.002: a short message's worst case fits it many times over, but ~96 KB of tool
    # definitions (about 20,000 prompt tokens at OpenAI, $0.003 at gpt-4o-mini's $0.15 per 1M) do not
    client = openai.OpenAI(base_url=start(IDENTITY_DAILY_BUDGET_USD="0.002"), api_key=KEY, max_retries=0)
    upstream.script(Ok(tokens=('{"sky": "clear"}',)))  # an answer that fits either, were the call admitted
    # WHEN the caller sends "Say hello." with them
    # THEN the budget refuses it before any upstream call, as it refuses a one-pixel image's worst case
    with pytest.raises(openai.RateLimitError) as refused:
        ask(client)
    assert refused.value.code == "budget_exceeded"
    assert upstream.requests == []


def test_the_prompt_tokens_of_tool_definitions_are_billed_as_reported(start, upstream, tmp_path):
    # GIVEN a provider that reads the tool definitions and bills them: it reports the messages' bytes plus 20,000
    # prompt tokens (less than the definitions' 96 KB: no tokenizer counts more tokens than bytes)
    client = openai.OpenAI(base_url=start(), api_key=KEY, max_retries=0)
    definitions = len(json.dumps(TOOLS).encode())
    upstream.script(Spend(extra_prompt=20_000))
    # WHEN a call with the tools is answered
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, max_tokens=5)
    reported = answer.usage.prompt_tokens
    # THEN its row bills the prompt the provider reported, which was within what the request could be counted
    assert 20_000 < definitions
    [row] = rows(tmp_path)
    assert (row.prompt_tokens, row.estimated) == (prompt_bound(MESSAGES) + 20_000, False), (row, reported)
