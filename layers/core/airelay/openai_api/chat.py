"""POST /v1/chat/completions, buffered and streamed, on the same relay as /api/chat: the model allowlist, fallback
chain, deadlines, budgets and usage rows."""

from __future__ import annotations

import secrets
import time

from fastapi import Request

from .. import relay, relay_stream
from ..providers.registry import chat_models
from ..settings import Settings, get_settings
from ..streaming import EventStreamResponse
from ..usage import Caller
from ..web import api_router, caller_of
from .chat_request import ChatCompletionBody, chat_request, image_urls
from .chunks import ChunkEncoder, finish_reason, usage_body
from .errors import error_body
from .images import inline_images
from .openapi import FAILURES, ChatCompletionAnswer, errors
from .request import resolve_model
from .structured import answer_check, capable_models

router = api_router()


@router.at_init
async def default_models(settings: Settings) -> list:
    """The default chat model's fallback chain, with its upstream client: /v1/chat/completions and /v1/responses."""
    return await chat_models(settings.fallback_chain(settings.chat_model), settings)


async def relayed(request: Request, body: ChatCompletionBody, caller: Caller):
    """The checked request, the models to try and what the answer must be."""
    settings = get_settings()
    chat = chat_request(body, settings, settings.system_prompt_policy_of(request.state.who.api_key_id))
    chain = capable_models(settings.fallback_chain(resolve_model(body.model, settings)), chat.response_format, settings)
    chain, chat = await inline_images(chat, image_urls(body), chain, settings, caller)
    models, check = await chat_models(chain, settings), answer_check(chat.response_format)
    return settings, chat, models, check


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionAnswer,
    responses=errors(*FAILURES, stream="with `stream: true`: chat.completion.chunk events, then [DONE]"),
)
async def chat_completions(body: ChatCompletionBody, request: Request):
    caller = caller_of(request, "openai")
    settings, chat, models, check = await relayed(request, body, caller)
    if body.stream:
        stream = await relay_stream.open_any_stream(models, chat, settings, caller)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventStreamResponse(chunks(stream, include_usage, check), on_close=stream.abandon)
    answer = await relay.complete_any(models, chat, settings, caller, check)
    return completion(answer)


async def chunks(stream: relay_stream.ChatStream, include_usage: bool, check):
    encoder = ChunkEncoder(stream.model_id)
    step = relay_stream.Step()
    yield encoder.start()
    async for part in stream.parts(encoder, step, check):
        yield part
    if step.error is not None:
        yield encoder.error(error_body(step.error))
        return
    yield encoder.finish(step.reason, step.usage if include_usage else None)


def completion(answer: relay.Answer) -> dict:
    message: dict = {"role": "assistant", "content": answer.text or None, "refusal": answer.refusal or None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    elif message["content"] is None and not answer.refusal:
        message["content"] = ""
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    return {
        "id": f"chatcmpl-{secrets.token_hex(16)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model_id,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(answer.reason)}],
        "usage": usage_body(answer.usage),
        "system_fingerprint": None,
    }
