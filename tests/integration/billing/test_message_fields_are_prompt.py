"""/v1: every field of a message the provider reads is prompt: an assistant's `refusal`, a message's `name`, a tool
call's id, besides its content and tool calls (`tokens.message_text`). They count towards the conversation's length
limit, the reservation's prompt bound (a caller's budget holds them before any upstream call), and the bill's cap."""

import openai
import pytest

from tests.integration.openai_api.conftest import KEY, rows
from tests.support.upstream import Ok, Spend

FILLER = "The weather in the city is clear and the wind is calm today. " * 1_500  # ~93 KB, ~20,000 tokens
ROOMY = {"HISTORY_MAX_CHARS": "200000"}  # past the length limit, to reach the budget and the bill

CONVERSATIONS = {
    "assistant-refusal": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!", "refusal": FILLER},
        {"role": "user", "content": "Say hello."},
    ],
    "user-name": [{"role": "user", "content": "Say hello.", "name": FILLER.replace(" ", "_")}],
}


@pytest.mark.parametrize("messages", CONVERSATIONS.values(), ids=CONVERSATIONS.keys())
def test_a_caller_budget_holds_every_message_field_the_provider_reads(start, upstream, messages):
    """~93 KB in a `refusal` or a `name` (about 20,000 prompt tokens, $0.003 at gpt-4o-mini) is refused by a $0.002
    caller budget before any upstream call, as the same text in `content` is."""
    client = openai.OpenAI(base_url=start(IDENTITY_DAILY_BUDGET_USD="0.002", **ROOMY), api_key=KEY, max_retries=0)
    upstream.script(Ok(tokens=("Hello",)))
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert refused.value.code == "budget_exceeded"
    assert upstream.requests == []


def test_the_prompt_tokens_of_a_relayed_refusal_are_billed_as_reported(start, upstream, tmp_path):
    """The provider's 20,000 prompt tokens for a relayed `refusal` are billed as reported, not capped at a bound that
    left the field out."""
    client = openai.OpenAI(base_url=start(**ROOMY), api_key=KEY, max_retries=0)
    upstream.script(Spend(extra_prompt=20_000))
    client.chat.completions.create(model="gpt-4o-mini", messages=CONVERSATIONS["assistant-refusal"], max_tokens=5)
    [row] = rows(tmp_path)
    assert row.prompt_tokens >= 20_000 and not row.estimated, row


def test_a_refusal_counts_towards_the_conversation_length_limit(start, upstream):
    """HISTORY_MAX_CHARS + MESSAGE_MAX_CHARS (32,000 characters by default) bound everything the provider reads: ~93,000
    characters in an assistant `refusal` is a 400, and nothing is relayed."""
    client = openai.OpenAI(base_url=start(), api_key=KEY, max_retries=0)
    upstream.script(Ok(tokens=("Hello",)))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=CONVERSATIONS["assistant-refusal"], max_tokens=5)
    assert upstream.requests == []
