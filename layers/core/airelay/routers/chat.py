"""POST /api/chat (buffered JSON) and POST /api/chat/stream (AI SDK UI message stream)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import relay, steps
from ..conversation import ChatBody, UIChatBody, build_request, images_of, parse_body
from ..openapi import ChatAnswer, answers, errors, inline_schema
from ..openapi_stream import stream_answer
from ..providers.registry import chat_models
from ..settings import get_settings
from ..streaming import EventStreamResponse, UIMessageStream
from ..tools.base import ToolContext
from ..tools.catalog import tools_for
from ..web import caller_of, validated_json

router = APIRouter()

# Bodies are read by hand (validated_json): a body model in a signature makes FastAPI import pydantic.v1 (~40 ms of
# a cold start). openapi_extra cannot add components, hence the inline schemas.
BUFFERED_BODY_SCHEMA = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(ChatBody)}}}
}
STREAM_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": inline_schema(ChatBody | UIChatBody),
            }
        },
    }
}


@router.post(
    "/api/chat",
    openapi_extra=BUFFERED_BODY_SCHEMA,
    responses=answers(ChatAnswer, 400, 401, 413, 422, 429, 502, 503, 504),
)
async def chat(http_request: Request) -> JSONResponse:
    settings = get_settings()
    body = validated_json(await http_request.body(), ChatBody.model_validate)
    model_id, request = build_request(body, settings)
    models = await chat_models(settings.fallback_chain(model_id), settings)
    answer = await relay.complete_any(models, request, settings, caller_of(http_request, "chat"))
    usage = answer.usage
    meter = await relay.usage.meter()
    return JSONResponse(
        {
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
    )


@router.post(
    "/api/chat/stream",
    openapi_extra=STREAM_BODY_SCHEMA,
    status_code=200,
    response_class=EventStreamResponse,
    responses={**stream_answer(), **errors(400, 401, 413, 422, 429, 502, 503, 504)},
)
async def chat_stream(request: Request) -> EventStreamResponse:
    settings = get_settings()
    body = await read_body(request)
    model_id, chat_request = build_request(body, settings)
    tools = tools_for(body.persona, settings)
    if tools:
        chat_request = replace(chat_request, tools=tuple(t.spec() for t in tools.values()))
    models = await chat_models(settings.fallback_chain(model_id), settings)
    caller = caller_of(request, "chat")
    stream = await relay.open_any_stream(models, chat_request, settings, caller)
    context = ToolContext(settings, caller, images_of(body))
    return EventStreamResponse(steps.ui_message_stream(stream, tools, context, UIMessageStream()))


async def read_body(request: Request) -> ChatBody | UIChatBody:
    return validated_json(await request.body(), parse_body)
