"""/v1/embeddings with what clients send besides texts: token ids (LangChain's OpenAIEmbeddings, by default) and
`dimensions`."""

import openai
import pytest

from tests.integration.openai_api.conftest import KEY

HELLO_WORLD = [15339, 1917]  # "hello world" in cl100k_base


def test_token_ids_are_embedded_as_the_text_they_stand_for(client):
    # GIVEN a text embedded as it is
    [text] = client.embeddings.create(model="local/use-multilingual", input="hello world").data
    # WHEN its cl100k_base token ids are sent instead, as one array and as a list of arrays
    [one] = client.embeddings.create(model="local/use-multilingual", input=HELLO_WORLD).data
    many = client.embeddings.create(model="local/use-multilingual", input=[HELLO_WORLD, [15339]]).data
    # THEN they are embedded as that text
    assert one.embedding == pytest.approx(text.embedding, abs=1e-6)
    assert many[0].embedding == pytest.approx(text.embedding, abs=1e-6) and len(many) == 2


@pytest.mark.parametrize("tokens", [[15339, 10**7], [-1], []])
def test_token_ids_outside_the_vocabulary_or_none_are_a_400(client, tokens):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="local/use-multilingual", input=[tokens])
    assert refused.value.param == "input"


def test_dimensions_over_the_models_size_are_refused_before_the_paid_call(start, upstream):
    # GIVEN text-embedding-3-small (1536 dimensions) at an upstream that answers no embeddings: any call would fail
    base = start(EMBEDDING_MODELS="openai/text-embedding-3-small")
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    # WHEN more dimensions than it has are asked for
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=4096)
    # THEN that is the 400, before any call
    assert refused.value.param == "dimensions" and "at most 1536" in refused.value.message
