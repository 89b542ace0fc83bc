"""POST /api/faq: the shop's FAQ answer when one matches, else the chat model's, else a human handoff."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..errors import InvalidInput
from ..faq.service import bot_for
from ..openapi import MODEL_CALL, FaqAnswer, errors
from ..settings import Settings, get_settings
from ..web import api_router, caller_of

router = api_router()


class FaqBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    top_k: StrictInt | None = Field(default=None, ge=1)


@router.post("/api/faq", response_model=FaqAnswer, responses=errors(*MODEL_CALL))
async def faq(body: FaqBody, request: Request) -> dict:
    settings = get_settings()
    question, top_k = checked(body, settings)
    reply = await bot_for(settings).answer(question, top_k, caller_of(request, "faq"))
    return reply.body


def checked(body: FaqBody, settings: Settings) -> tuple[str, int]:
    question = body.question.strip()
    if not question:
        raise InvalidInput("question must not be empty")
    if len(question) > settings.faq_question_max_chars:
        raise InvalidInput(f"question is longer than {settings.faq_question_max_chars} characters")
    top_k = settings.faq_top_k_default if body.top_k is None else body.top_k
    if top_k > settings.faq_top_k_max:
        raise InvalidInput(f"top_k must be between 1 and {settings.faq_top_k_max}")
    return question, top_k
