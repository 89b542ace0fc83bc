"""POST /api/sentiment: {text} (or ?text=) -> {sentiment, score, keywords, model}."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from .. import usage
from ..errors import InvalidInput
from ..openapi import MODEL_CALL, SentimentAnswer, errors
from ..providers.base import MAX_KEYWORDS, TextClassifier
from ..providers.registry import text_classifier
from ..settings import Settings
from ..text import is_blank
from ..web import SettingsDep, api_router, caller_of

router = api_router()


class SentimentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


QueryText = Annotated[str | None, Query(description="the text, when there is no JSON body (the tutorial's form)")]


async def sentiment_model(settings: SettingsDep) -> TextClassifier:
    return await text_classifier(settings.sentiment_model, settings)


@router.at_init
async def warm_sentiment_model(settings: Settings) -> None:
    """The model made, and an in-process one run once (its first run loads what a request would otherwise load)."""
    model = await sentiment_model(settings)
    if model.provider == "local":  # in process, no bill
        await model.classify("Warm-up: the delivery was quick.")


@router.post("/api/sentiment", response_model=SentimentAnswer, responses=errors(*MODEL_CALL))
async def sentiment(
    request: Request,
    settings: SettingsDep,
    model: Annotated[TextClassifier, Depends(sentiment_model)],
    body: SentimentBody | None = None,
    text: QueryText = None,
) -> dict:
    text = checked(body.text if body is not None else text, settings)
    model_id = settings.sentiment_model
    priced_model, prompt_tokens, max_tokens = model.worst_case(text)
    async with usage.metered(caller_of(request, "sentiment"), priced_model, prompt_tokens, max_tokens) as reading:
        reading.if_cut = partial(model.input_usage, text)
        result = await model.classify(text)
        reading.usage = result.usage
    return {
        "sentiment": result.sentiment,
        "score": round(result.score, 4),
        "keywords": result.keywords[:MAX_KEYWORDS],  # whatever the provider gave
        "model": model_id,
    }


def checked(text: str | None, settings: Settings) -> str:
    if text is None:
        raise InvalidInput('Send {"text": "..."} as JSON (or ?text=...).')
    text = text.strip()
    if is_blank(text):
        raise InvalidInput("text: must not be empty")
    if len(text) > settings.sentiment_text_max_chars:
        raise InvalidInput(f"text: at most {settings.sentiment_text_max_chars} characters")
    return text
