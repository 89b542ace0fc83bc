"""The answers the routes declare (`response_model=` and `responses=`): each success body, the one error body every
failure has (the chat stream's events are in openapi_stream.py). FastAPI validates each JSON answer against its model and writes the
OpenAPI document from them; nothing here is described twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .providers.base import MAX_KEYWORDS


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
    401: "The x-api-key header, or a sign-in or visitor token, is missing or not valid (unauthorized).",
    413: "The body (or the image, or a chat file) is too large (payload_too_large, image_too_large, file_too_large).",
    415: "The body's content type, or a chat file's media type, is not one this route reads (unsupported_media_type).",
    422: "The input is not valid (invalid_input and more specific codes).",
    429: "Over today's budget (budget_exceeded), over the caller's requests or tokens per minute "
    "(rate_limit_exceeded), or rate limited by the model provider (rate_limited); with Retry-After.",
    502: "The model provider failed (provider_failed).",
    503: "The model provider, or the FAQ index, is unavailable (provider_unavailable, faq_index_missing, ...).",
    504: "The model provider did not answer in time (provider_timeout).",
}
MODEL_CALL = (400, 401, 413, 422, 429, 502, 503, 504)


def errors(*statuses: int) -> dict[int | str, dict]:
    """`responses=` entries for these error statuses, each with the error body."""
    return {status: {"model": ErrorBody, "description": ERRORS[status]} for status in statuses}


# POST /api/chat


class ChatUsage(Strict):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    cached_tokens: int = Field(ge=0)
    estimated: bool


class ToolCallResult(Strict):
    id: str
    name: str
    input: object = Field(description="the arguments as the model wrote them (parsed JSON when they were JSON)")
    output: object = Field(default=None, description="the tool's output, when it ran")
    error: str | None = Field(default=None, description="why the call failed or could not run")


class StepUsage(Strict):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class ChatStep(Strict):
    text: str
    reasoning: str
    tool_calls: list[ToolCallResult]
    finish_reason: str
    usage: StepUsage
    cost_usd: float = Field(ge=0)


class SourceDocument(Strict):
    id: str
    title: str
    media_type: str


class ChatAnswer(Strict):
    response: str = Field(description="the last step's text: the answer")
    tokens_used: int = Field(ge=0)
    usage: ChatUsage = Field(description="all steps together")
    cost_usd: float = Field(ge=0)
    cost_krw: float = Field(ge=0)
    model: str
    finish_reason: str = Field(description="stop, length, content-filter, tool-calls or other")
    reasoning: str = Field(description="the model's reasoning over all steps, when it sent any")
    steps: list[ChatStep] = Field(description="one per upstream call: text, reasoning, server tool calls and results")
    sources: list[SourceDocument] = Field(description="documents the tools' answers came from (search_faq)")


# POST /api/sentiment


class SentimentAnswer(Strict):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=0, le=1)
    keywords: list[str] = Field(max_length=MAX_KEYWORDS)
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
