"""What the routes declare in their OpenAPI documents: each success body, and the one error body every failure has.

Documentation only: the routes build their JSONResponse themselves, so nothing here is validated at run time. The
fuzz test (tests/integration/test_fuzz_openapi.py) checks every answer against these declarations.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Strict):
    code: str = Field(
        description="stable, e.g. invalid_input, rate_limited, budget_exceeded, rate_limit_exceeded, provider_failed"
    )
    message: str = Field(description="short and safe to show")
    budget: Literal["global", "caller"] | None = Field(
        None, description="budget_exceeded only: the budget that ran out, all callers' or the caller's own"
    )
    rate: Literal["requests_per_minute", "tokens_per_minute"] | None = Field(
        None, description="rate_limit_exceeded only: the caller's own per-minute limit that this call would pass"
    )
    limit: float | None = Field(
        None,
        description="the caller's own limit that was reached: USD for the caller's budget, requests or tokens a minute",
    )
    used: float | None = Field(None, description="what the caller has used of that limit (held calls included)")


class ErrorBody(Strict):
    error: ErrorDetail


ERRORS = {
    400: "The body is not valid JSON or not a valid multipart body (malformed_request).",
    401: "API_KEYS is set and the x-api-key header is missing or wrong (unauthorized).",
    413: "The body (or the image) is too large (payload_too_large, image_too_large).",
    415: "The body's content type is not one this route reads (unsupported_media_type).",
    422: "The input is not valid (invalid_input and more specific codes).",
    429: "Over today's budget (budget_exceeded), over the caller's requests or tokens per minute "
    "(rate_limit_exceeded), or rate limited by the model provider (rate_limited); with Retry-After.",
    502: "The model provider failed (provider_failed).",
    503: "The model provider, or the FAQ index, is unavailable (provider_unavailable, faq_index_missing, ...).",
    504: "The model provider did not answer in time (provider_timeout).",
}
PROVIDER = (429, 502, 503, 504)


# Bodies are given as inline JSON schemas, not as `model`: for a response model FastAPI imports pydantic.v1 to check
# whether it is one (about 40 ms of every function's cold start).


def json_content(annotation) -> dict:
    return {"application/json": {"schema": inline_schema(annotation)}}


@cache
def error_content() -> dict:
    """The one error body's content, made once for every route and status (about 0.6 ms each time)."""
    return json_content(ErrorBody)


def errors(*statuses: int) -> dict[int | str, dict]:
    """`responses=` entries for these error statuses, each with the error body."""
    return {status: {"description": ERRORS[status], "content": error_content()} for status in statuses}


def answers(model, *error_statuses: int) -> dict[int | str, dict]:
    """`responses=`: the 200 body and the error statuses."""
    return {200: {"description": "OK", "content": json_content(model)}, **errors(*error_statuses)}


def inline_schema(annotation) -> dict:
    """The JSON schema of a type with every $ref resolved in place (and no discriminator mapping, whose targets
    would be gone): a schema given through `openapi_extra` cannot add the components its $refs would need. The
    models here have no cycles."""
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


# POST /api/chat


class ChatUsage(Strict):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    cached_tokens: int = Field(ge=0)
    estimated: bool


class ChatAnswer(Strict):
    response: str
    tokens_used: int = Field(ge=0)
    usage: ChatUsage
    cost_usd: float = Field(ge=0)
    cost_krw: float = Field(ge=0)
    model: str
    finish_reason: str = Field(description="stop, length, content-filter, tool-calls or other")


# POST /api/chat/stream: the parts of the AI SDK UI message stream that airelay sends, one per SSE event


class StartPart(Strict):
    type: Literal["start"]
    messageId: str


class StepPart(Strict):
    type: Literal["start-step", "finish-step"]


class TextEdgePart(Strict):
    type: Literal["text-start", "text-end"]
    id: str


class TextDeltaPart(Strict):
    type: Literal["text-delta"]
    id: str
    delta: str


class StreamUsage(Strict):
    model: str
    inputTokens: int = Field(ge=0)
    outputTokens: int = Field(ge=0)
    cachedTokens: int = Field(ge=0)
    estimated: bool
    costUsd: float = Field(ge=0)
    costKrw: float = Field(ge=0)


class UsagePart(Strict):
    type: Literal["data-usage"]
    data: StreamUsage
    transient: Literal[True]


class FinishPart(Strict):
    type: Literal["finish"]
    finishReason: str


class ErrorPart(Strict):
    type: Literal["error"]
    errorText: str


StreamPart = Annotated[
    StartPart | StepPart | TextEdgePart | TextDeltaPart | UsagePart | FinishPart | ErrorPart,
    Field(discriminator="type"),
]


def stream_answer() -> dict:
    """`responses=` 200 of the stream: each SSE event's data is one JSON part, the last one `[DONE]`."""
    data = {
        "anyOf": [
            {"const": "[DONE]"},
            {"type": "string", "contentMediaType": "application/json", "contentSchema": inline_schema(StreamPart)},
        ]
    }
    event = {"type": "object", "required": ["data"], "properties": {"data": data, "event": {"const": "message"}}}
    return {
        200: {
            "description": "The AI SDK UI message stream (server-sent events); a failure after the start "
            "ends it with an `error` part",
            "content": {"text/event-stream": {"schema": event}},
        }
    }


# POST /api/sentiment


class SentimentAnswer(Strict):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=0, le=1)
    keywords: list[str] = Field(max_length=3)
    model: str


# POST /api/image/classify


class ImageLabel(Strict):
    label: str
    score: float = Field(ge=0, le=1)


class ClassifyAnswer(Strict):
    labels: list[ImageLabel]
    model: str


# POST /api/faq


class FaqMatch(Strict):
    id: str
    question: str
    score: float


class FaqFromIndex(Strict):
    source: Literal["faq"]
    answer: str
    confidence: float
    faq_id: str
    matched_question: str
    matches: list[FaqMatch]


class FaqOther(Strict):
    source: Literal["model", "handoff"]
    answer: str
    confidence: float


FaqAnswer = Annotated[FaqFromIndex | FaqOther, Field(discriminator="source")]


# GET /api/usage


class UsageLine(Strict):
    key: str
    calls: int = Field(ge=0)
    errors: int = Field(ge=0, description="calls that failed")
    cancelled: int = Field(ge=0, description="calls the client cancelled (a stopped stream)")
    refused: int = Field(ge=0, description="calls a limit refused (429) before any model was called; not in calls")
    prompt_tokens: int = Field(ge=0)
    cached_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    cost_krw: float = Field(ge=0)


class CallerBudget(Strict):
    identity: str
    limit_usd: float = Field(ge=0)
    used_usd: float = Field(ge=0)
    remaining_usd: float = Field(ge=0)


class Budget(Strict):
    """The global budget in an operator's report, else the caller's own; `caller` is always the caller's own."""

    day: str
    limit_usd: float = Field(ge=0)
    used_usd: float = Field(ge=0)
    remaining_usd: float = Field(ge=0)
    resets_in_s: int = Field(ge=0)
    caller: CallerBudget | None = None


class UsageReport(Strict):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    by: Literal["day", "model", "identity", "kind"]
    scope: Literal["caller", "all"] = Field(description="the caller's own usage, or every caller's (an operator)")
    rows: list[UsageLine]
    total: UsageLine
    budget: Budget
    prices: str
    top: list[UsageLine] | None = Field(
        None, description="operators only: today's callers with the most spend, then refusals (at most 10)"
    )
