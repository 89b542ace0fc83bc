"""POST /api/faq: the shop's FAQ answer when one matches, else the chat model's, else a human handoff."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..errors import InvalidInput
from ..faq.service import bot_for
from ..openapi import FaqAnswer, answers, inline_schema
from ..settings import Settings, get_settings
from ..web import caller_of, validated_json

router = APIRouter()


class FaqBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    top_k: StrictInt | None = Field(default=None, ge=1)


# The body is read by hand: a body model in the signature makes FastAPI import pydantic.v1 (~40 ms of a cold start).
OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(FaqBody)}}}}


@router.post("/api/faq", openapi_extra=OPENAPI, responses=answers(FaqAnswer, 400, 401, 413, 422, 429, 502, 503, 504))
async def faq(request: Request) -> JSONResponse:
    settings = get_settings()
    question, top_k = checked(validated_json(await request.body(), FaqBody.model_validate), settings)
    caller = caller_of(request, "faq")
    reply = await bot_for(settings).answer(question, top_k, caller)
    return JSONResponse(reply.body)


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
