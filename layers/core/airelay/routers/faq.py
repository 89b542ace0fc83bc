"""POST /api/faq: the shop's FAQ answer when one matches, else the chat model's, else a human handoff."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..errors import InvalidInput
from ..faq.service import FaqBot, bot_for
from ..openapi import MODEL_CALL, FaqAnswer, errors
from ..settings import Settings
from ..text import is_blank
from ..web import SettingsDep, api_router, caller_of

router = api_router()


class FaqBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    top_k: StrictInt | None = Field(default=None, ge=1)


async def faq_bot(settings: SettingsDep) -> FaqBot:
    return bot_for(settings)


@router.at_init
async def warm_faq_bot(settings: Settings) -> None:
    await bot_for(settings).prepare()


@router.post("/api/faq", response_model=FaqAnswer, responses=errors(*MODEL_CALL))
async def faq(body: FaqBody, bot: Annotated[FaqBot, Depends(faq_bot)], settings: SettingsDep, request: Request) -> dict:
    question, top_k = checked(body, settings)
    reply = await bot.answer(question, top_k, caller_of(request, "faq"))
    return reply.body


def checked(body: FaqBody, settings: Settings) -> tuple[str, int]:
    question = body.question.strip()
    if is_blank(question):
        raise InvalidInput("question must not be empty")
    if len(question) > settings.faq_question_max_chars:
        raise InvalidInput(f"question is longer than {settings.faq_question_max_chars} characters")
    top_k = settings.faq_top_k_default if body.top_k is None else body.top_k
    if top_k > settings.faq_top_k_max:
        raise InvalidInput(f"top_k must be between 1 and {settings.faq_top_k_max}")
    return question, top_k
