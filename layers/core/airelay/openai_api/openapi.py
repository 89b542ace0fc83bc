"""What the /v1 routes declare in their OpenAPI document: the request bodies, OpenAI's answer shapes (loosely: the
fields airelay always sends) and OpenAI's error body. Documentation only, checked by the fuzz test."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ERRORS = {
    400: "A parameter is missing, malformed or not supported here; `param` names it (invalid_request_error).",
    401: "The API key is missing or wrong: send it as `Authorization: Bearer <key>` (authentication_error).",
    404: "No such model for this caller (model_not_found) or route.",
    413: "The body is too large.",
    422: "The model provider refused the request as it is (e.g. the conversation is too long).",
    429: "Over today's budget (insufficient_quota, x-should-retry: false) or rate limited by the model provider; "
    "with Retry-After.",
    502: "The model provider failed, or its answer broke the requested response_format.",
    503: "The model provider is unavailable.",
    504: "The model provider did not answer in time.",
}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    type: str
    param: str | None
    code: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


class ChatCompletionAnswer(Open):
    id: str
    object: str = Field(description="chat.completion")
    created: int
    model: str
    choices: list[dict]
    usage: dict


class ResponseAnswer(Open):
    id: str
    object: str = Field(description="response")
    status: str
    model: str
    output: list[dict]
    usage: dict


class EmbeddingsAnswer(Open):
    object: str = Field(description="list")
    data: list[dict]
    model: str
    usage: dict


class ModelList(Open):
    object: str = Field(description="list")
    data: list[dict]


def body(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}}


def responses(answer, *statuses: int, stream: str | None = None) -> dict:
    content = {"application/json": {"schema": inline_schema(answer)}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "object", "description": stream}}
    declared: dict = {200: {"description": "OK", "content": content}}
    for status in statuses:
        declared[status] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": inline_schema(ErrorBody)}},
        }
    return declared


FAILURES = (400, 401, 404, 413, 422, 429, 502, 503, 504)


def inline_schema(annotation) -> dict:
    """The JSON schema of a type with every $ref resolved in place (and no discriminator mapping, whose targets
    would be gone): a schema given through `openapi_extra` cannot add the components its $refs would need."""
    schema = TypeAdapter(annotation).json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items() if key != "discriminator"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
