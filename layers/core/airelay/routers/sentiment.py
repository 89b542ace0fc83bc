"""POST /api/sentiment: {text} (or ?text=) -> {sentiment, score, keywords, model}."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from .. import usage
from ..errors import InvalidInput
from ..openapi import SentimentAnswer, answers
from ..providers.registry import text_classifier
from ..settings import Settings, get_settings
from ..web import caller_of, validated_json

router = APIRouter()


class SentimentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


OPENAPI = {
    "parameters": [
        {
            "name": "text",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "the text, when there is no JSON body (the tutorial's form)",
        }
    ],
    "requestBody": {"required": False, "content": {"application/json": {"schema": SentimentBody.model_json_schema()}}},
}


@router.post(
    "/api/sentiment", openapi_extra=OPENAPI, responses=answers(SentimentAnswer, 400, 401, 413, 422, 429, 502, 503, 504)
)
async def sentiment(request: Request) -> JSONResponse:
    settings = get_settings()
    text = await read_text(request, settings)
    model_id = settings.sentiment_model
    model = await text_classifier(model_id, settings)
    priced_model, prompt_tokens, max_tokens = model.worst_case(text)
    async with usage.metered(caller_of(request, "sentiment"), priced_model, prompt_tokens, max_tokens) as reading:
        result = await model.classify(text)
        reading.usage = result.usage
    return JSONResponse(
        {
            "sentiment": result.sentiment,
            "score": round(result.score, 4),
            "keywords": result.keywords,
            "model": model_id,
        }
    )


async def read_text(request: Request, settings: Settings) -> str:
    raw = await request.body()
    if raw.strip():
        text = parse_body(raw).text
    elif "text" in request.query_params:
        text = request.query_params["text"]
    else:
        raise InvalidInput('Send {"text": "..."} as JSON (or ?text=...).')
    text = text.strip()
    if not text:
        raise InvalidInput("text: must not be empty")
    if len(text) > settings.sentiment_text_max_chars:
        raise InvalidInput(f"text: at most {settings.sentiment_text_max_chars} characters")
    return text


def parse_body(raw: bytes) -> SentimentBody:
    return validated_json(raw, SentimentBody.model_validate)
