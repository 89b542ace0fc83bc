"""POST /api/chat (buffered JSON) and POST /api/chat/stream (AI SDK UI message stream)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .. import buffered, relay, steps
from ..attachments import attach_files
from ..continuation import continued
from ..conversation import ChatBody, UIChatBody, build_request, continues, files_of, images_of, parse_body
from ..openapi import ChatAnswer, answers, errors, inline_schema
from ..openapi_stream import stream_answer
from ..providers.registry import chat_models
from ..settings import get_settings
from ..streaming import EventStreamResponse, UIMessageStream
from ..tools.base import ToolContext
from ..tools.catalog import tools_for
from ..tools.client import Proofs, is_client_side
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
    context = ToolContext(settings, caller_of(http_request, "chat"))
    return JSONResponse(await buffered.run_steps(models, request, tools_for(body.persona, settings), context))


@router.post(
    "/api/chat/stream",
    openapi_extra=STREAM_BODY_SCHEMA,
    status_code=200,
    response_class=EventStreamResponse,
    responses={**stream_answer(), **errors(400, 401, 413, 415, 422, 429, 502, 503, 504)},
)
async def chat_stream(request: Request) -> EventStreamResponse:
    settings = get_settings()
    body = await read_body(request)
    model_id, chat_request = build_request(body, settings)
    model_ids, files = settings.fallback_chain(model_id), files_of(body)
    if files:
        model_ids, chat_request = await attach_files(chat_request, files, model_ids, settings)
    tools = tools_for(body.persona, settings)
    encoder, proofs = answer_encoder(body, tools, settings)
    if continues(body):
        chat_request = continued(chat_request, body.messages[-1], tools, proofs, settings)
    if tools:
        chat_request = replace(chat_request, tools=tuple(t.spec() for t in tools.values()))
    models = await chat_models(model_ids, settings)
    caller = caller_of(request, "chat")
    stream = await relay.open_any_stream(models, chat_request, settings, caller)
    context = ToolContext(settings, caller, images_of(body))
    return EventStreamResponse(steps.ui_message_stream(stream, tools, context, encoder, proofs))


def answer_encoder(body: ChatBody | UIChatBody, tools: dict, settings) -> tuple[UIMessageStream, Proofs | None]:
    """The answer's encoder (a continued answer keeps its message id) and, with tools, the proofs of its calls."""
    message_id = body.messages[-1].id if continues(body) else None
    encoder = UIMessageStream(message_id, frozenset(n for n, t in tools.items() if is_client_side(t)))
    chat_id = getattr(body, "id", None) or ""
    return encoder, Proofs(settings, chat_id, encoder.message_id) if tools else None


async def read_body(request: Request) -> ChatBody | UIChatBody:
    return validated_json(await request.body(), parse_body)
