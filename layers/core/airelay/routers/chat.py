"""POST /api/chat (buffered) and POST /api/chat/stream (the AI SDK UI message stream), with tools and files."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request

from .. import buffered, relay_stream, steps, usage
from ..attachments import attach_files
from ..continuation import continued
from ..conversation import ChatBody, StreamBody, UIChatBody, build_request, continues, files_of, images_of
from ..errors import AirelayError
from ..openapi import MODEL_CALL, ChatAnswer, errors
from ..openapi_stream import STREAM, StreamEvent
from ..providers.registry import chat_models
from ..settings import Settings, get_settings
from ..streaming import EventStreamResponse, UIMessageStream
from ..tools.base import ToolContext
from ..tools.catalog import tools_for
from ..tools.client import Proofs, is_client_side, proof_secret
from ..web import api_router, caller_of

router = api_router()


@router.at_init
async def default_models(settings: Settings) -> list:
    return await chat_models(settings.fallback_chain(settings.chat_model), settings)


@router.at_init
async def personas_tools(settings: Settings) -> None:
    """Every persona's tools found: a CHAT_TOOLS name that is no tool, or a TOOLS_MODULE that cannot be imported,
    stops INIT rather than failing each of that persona's chats."""
    for persona in settings.persona_tools:
        tools_for(persona, settings)


@router.post("/api/chat", response_model=ChatAnswer, response_model_exclude_unset=True, responses=errors(*MODEL_CALL))
async def chat(body: ChatBody, http_request: Request) -> dict:
    settings = get_settings()
    model_id, request = build_request(body, settings)
    models = await chat_models(settings.fallback_chain(model_id), settings)
    context = ToolContext(settings, caller_of(http_request, "chat"))
    return await buffered.run_steps(models, request, tools_for(body.persona, settings), context)


@router.post(
    "/api/chat/stream",
    status_code=200,
    response_class=EventStreamResponse,
    response_model=StreamEvent,
    responses={**STREAM, **errors(*MODEL_CALL, 415)},
)
async def chat_stream(body: StreamBody, request: Request) -> EventStreamResponse:
    settings = get_settings()
    model_id, chat_request = build_request(body, settings)
    model_ids, files = settings.fallback_chain(model_id), files_of(body)
    caller = caller_of(request, "chat")
    if files:
        await usage.admit(caller)  # nothing fetched for a caller already seen over its requests per minute
        try:
            model_ids, chat_request = await attach_files(chat_request, files, model_ids, settings)
        except AirelayError:
            await usage.record_failed(caller, model_id)  # files fetched or read: the request counts
            raise
    tools = tools_for(body.persona, settings)
    encoder, proofs = answer_encoder(body, tools, await proof_secret(settings) if tools else b"")
    made = 0
    if continues(body):
        chat_request, made = continued(chat_request, body.messages[-1], tools, proofs, settings)
    if tools:
        chat_request = replace(chat_request, tools=tuple(t.spec() for t in tools.values()))
    chat_request = steps.for_step(chat_request, made + 1, settings)
    models = await chat_models(model_ids, settings)
    stream = await relay_stream.open_any_stream(models, chat_request, settings, caller)
    context = ToolContext(settings, caller, images_of(body))
    body = steps.ui_message_stream(stream, tools, context, encoder, proofs, made)
    return EventStreamResponse(body, on_close=stream.abandon)  # the first step's call; later ones: the body's own


def answer_encoder(body: ChatBody | UIChatBody, tools: dict, secret: bytes) -> tuple[UIMessageStream, Proofs | None]:
    """The answer's encoder (a continued answer keeps its message id) and, with tools, the proofs of its calls."""
    message_id = body.messages[-1].id if continues(body) else None
    encoder = UIMessageStream(message_id, frozenset(n for n, t in tools.items() if is_client_side(t)))
    chat_id = getattr(body, "id", None) or ""
    return encoder, Proofs(secret, chat_id, encoder.message_id) if tools else None
