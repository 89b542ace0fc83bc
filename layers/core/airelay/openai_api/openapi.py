"""What the /v1 routes answer, as FastAPI's `response_model=` and `responses=`: OpenAI's answer shapes (the fields
airelay always sends; more may come) and OpenAI's error body at each failing status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ERRORS = {
    400: "A parameter is missing, malformed or not supported here; `param` names it (invalid_request_error).",
    401: "The API key is missing or wrong: send it as `Authorization: Bearer <key>`; or the visitor token is not valid "
    "(authentication_error).",
    404: "No such model for this caller (model_not_found) or route.",
    413: "The body is larger than MAX_BODY_BYTES (images sent as data URLs count towards it).",
    422: "The model provider refused the request as it is (e.g. the conversation is too long).",
    429: "Over today's budget (insufficient_quota, x-should-retry: false), over the caller's requests or tokens per "
    "minute (rate_limit_exceeded, type requests or tokens) or rate limited by the model provider; with Retry-After.",
    502: "The model provider failed, or its answer broke the requested format (response_format, text.format).",
    503: "The model provider is unavailable.",
    504: "The model provider did not answer in time.",
}
FAILURES = (400, 401, 404, 413, 422, 429, 502, 503, 504)
SSE_EVENT = {  # one server-sent event as schemathesis and the SDKs read it: its name, and its data (JSON, or [DONE])
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str
    type: str
    param: str | None
    code: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: ErrorObject


class CompletionUsage(Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Choice(Open):
    index: int
    message: dict
    finish_reason: str


class ChatCompletionAnswer(Open):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class ResponseUsage(Open):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class ResponseAnswer(Open):
    id: str
    object: Literal["response"]
    status: str
    model: str
    output: list[dict]
    usage: ResponseUsage


class EmbeddingUsage(Open):
    prompt_tokens: int
    total_tokens: int


class Embedding(Open):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingsAnswer(Open):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class ModelCard(Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(Open):
    object: Literal["list"]
    data: list[ModelCard]


def errors(*statuses: int, stream: str | None = None) -> dict[int | str, dict]:
    """`responses=` entries: OpenAI's error body at each status, and the event stream a 200 may be instead."""
    declared: dict[int | str, dict] = {s: {"model": ErrorResponse, "description": ERRORS[s]} for s in statuses}
    if stream:
        declared[200] = {"content": {"text/event-stream": {"schema": {**SSE_EVENT, "description": stream}}}}
    return declared
