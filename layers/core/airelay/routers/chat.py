"""POST /api/chat (buffered JSON) and POST /api/chat/stream (AI SDK UI message stream)."""

from __future__ import annotations

from fastapi import Request

from .. import relay
from ..conversation import ChatBody, StreamBody, build_request
from ..openapi import MODEL_CALL, STREAM, ChatAnswer, StreamEvent, errors
from ..providers.registry import chat_models
from ..settings import Settings, get_settings
from ..streaming import EventStreamResponse, UIMessageStream
from ..web import api_router, caller_of

router = api_router()


@router.at_init
async def default_models(settings: Settings) -> list:
    return await chat_models(settings.fallback_chain(settings.chat_model), settings)


@router.post("/api/chat", response_model=ChatAnswer, responses=errors(*MODEL_CALL))
async def chat(body: ChatBody, http_request: Request) -> dict:
    settings = get_settings()
    model_id, request = build_request(body, settings)
    models = await chat_models(settings.fallback_chain(model_id), settings)
    answer = await relay.complete_any(models, request, settings, caller_of(http_request, "chat"))
    usage = answer.usage
    meter = await relay.usage.meter()
    return {
        "response": answer.text,
        "tokens_used": usage.prompt_tokens + usage.completion_tokens,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "estimated": usage.estimated,
        },
        "cost_usd": float(answer.cost_usd),
        "cost_krw": float(meter.krw(answer.cost_usd)),
        "model": answer.model_id,
        "finish_reason": answer.reason,
    }


@router.post(
    "/api/chat/stream",
    status_code=200,
    response_class=EventStreamResponse,
    response_model=StreamEvent,
    responses={**STREAM, **errors(*MODEL_CALL)},
)
async def chat_stream(body: StreamBody, request: Request) -> EventStreamResponse:
    settings = get_settings()
    model_id, chat_request = build_request(body, settings)
    models = await chat_models(settings.fallback_chain(model_id), settings)
    stream = await relay.open_any_stream(models, chat_request, settings, caller_of(request, "chat"))
    encoder = UIMessageStream()
    return EventStreamResponse(stream.ui_message_stream(encoder))
