"""The local provider sends tool schemas llama-cpp-python 0.3.x can compile: no length, count or pattern bounds at
any depth, everything else (and a property that happens to be named like one of those keywords) kept."""

from pydantic import BaseModel, Field

from airelay.providers.base import ChatRequest
from airelay.providers.llama_cpp import LlamaCppChatModel, compilable
from airelay.providers.upstream_http import UpstreamClient
from airelay.tools.builtin import AnalyzeSentiment


class Tag(BaseModel):
    pattern: str = Field(max_length=40, pattern=r"^[a-z]+$")


class Input(BaseModel):
    tags: list[Tag] = Field(min_length=1, max_length=300)
    note: str | None = Field(default=None, max_length=2000)


def keywords(schema, found=None) -> set[str]:
    found = set() if found is None else found
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            keywords(value, found)
    elif isinstance(schema, list):
        for value in schema:
            keywords(value, found)
    return found


def test_bounds_go_at_every_depth_and_the_rest_stays():
    schema = Input.model_json_schema()
    assert {"maxLength", "minItems", "maxItems", "pattern"} <= keywords(schema)
    sent = compilable(schema)
    assert not {"minLength", "maxLength", "minItems", "maxItems"} & keywords(sent)
    tag = sent["$defs"]["Tag"]
    assert tag["properties"] == {"pattern": {"title": "Pattern", "type": "string"}}  # the property, not the keyword
    assert tag["required"] == ["pattern"]
    assert sent["properties"]["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert sent["properties"]["tags"]["items"] == {"$ref": "#/$defs/Tag"}
    assert schema["properties"]["note"]["anyOf"][0]["maxLength"] == 2000  # the tool's own schema is unchanged


def test_the_local_model_is_offered_analyze_sentiment_without_its_2000_character_bound():
    tool = AnalyzeSentiment()
    assert tool.spec().parameters["properties"]["text"]["maxLength"] == 2000
    client = UpstreamClient(
        "http://127.0.0.1:9/v1", "local", timeout_s=5, connect_timeout_s=5, stream_read_s=5, max_retries=0
    )
    model = LlamaCppChatModel("local/smollm2-135m", client)
    args = model.arguments(ChatRequest([{"role": "user", "content": "hi"}], max_tokens=8, tools=(tool.spec(),)))
    text = args["tools"][0]["function"]["parameters"]["properties"]["text"]
    assert text == {"description": "the text to analyse", "title": "Text", "type": "string"}
