"""GET /v1/models and the endpoints agree: every listed id is accepted where it belongs, a fallback that may not be named
is neither listed nor accepted, and a caller who may use nothing gets no list."""

import httpx
import openai
import pytest

from tests.integration.openai_api.conftest import KEY, MESSAGES

SERVER_KEY = "srv-key-0123456789abcdef"


def test_the_list_is_exactly_what_the_endpoints_accept(start, upstream):
    # GIVEN a default model, one more allowed, a fallback that is not allowed, and the local embedder
    base = start(ALLOWED_CHAT_MODELS="openai/gpt-4.1-mini", CHAT_FALLBACK_MODELS="openai/gpt-4.1-nano")
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    listed = [m.id for m in client.models.list()]
    # THEN the fallback is not listed
    assert "openai/gpt-4.1-nano" not in listed
    chat = [m for m in listed if not m.startswith("local/use-")]
    embedders = [m for m in listed if m.startswith("local/use-")]
    assert chat and embedders
    # AND every listed chat model answers, under the name listed
    for model in chat:
        assert client.chat.completions.create(model=model, messages=MESSAGES).model == model
    for model in embedders:
        assert len(client.embeddings.create(model=model, input="hi").data) == 1
    # AND the unlisted fallback cannot be named
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="openai/gpt-4.1-nano", messages=MESSAGES)


def test_a_caller_who_may_use_nothing_gets_no_list(start, upstream):
    # GIVEN sign-in on: /v1 serves server keys only, a public key's calls are refused
    base = start(
        API_KEYS=f"sdk={KEY},srv={SERVER_KEY}",
        SERVER_KEYS="srv",
        JWT_ISSUER="https://issuer.example",
        JWT_AUDIENCE="airelay",
    )
    # WHEN the public key asks for the models THEN it is refused as its calls are
    refused = httpx.get(f"{base}/models", headers={"authorization": f"Bearer {KEY}"})
    assert refused.status_code == 401, refused.text
    # AND the server key gets the list
    listed = httpx.get(f"{base}/models", headers={"authorization": f"Bearer {SERVER_KEY}"})
    assert listed.status_code == 200 and listed.json()["data"]
