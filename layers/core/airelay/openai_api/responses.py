"""POST /v1/responses, buffered and streamed with the Responses event sequence; the same relay as chat completions.
An answer's output items are kept for later requests to name by id (stored_items), unless it asks `store: false`."""

from __future__ import annotations

import time
import uuid

from fastapi import Request

from .. import relay, relay_stream
from ..providers.base import ToolCall, Usage
from ..providers.registry import chat_models
from ..settings import Settings, get_settings
from ..streaming import EventStreamResponse
from ..web import api_router, caller_of
from .events import ResponseEvents, content_part
from .images import inline_images
from .openapi import FAILURES, ResponseAnswer, errors
from .request import resolve_model
from .responses_request import FORMAT, FunctionChoice, ResponsesBody, image_urls, responses_request
from .stored_items import keep, keeps, with_referenced_items
from .structured import answer_check, capable_models

router = api_router()


@router.post(
    "/v1/responses",
    response_model=ResponseAnswer,
    responses=errors(*FAILURES, stream="with `stream: true`: the Responses API's events"),
)
async def responses(body: ResponsesBody, request: Request):
    settings = get_settings()
    caller = caller_of(request, "openai")
    model_id = resolve_model(body.model, settings)
    body = await with_referenced_items(body, caller, model_id, settings)
    chat = responses_request(body, settings, settings.system_prompt_policy_of(request.state.who.api_key_id))
    chain = capable_models(settings.fallback_chain(model_id), chat.response_format, settings, FORMAT)
    chain, chat = await inline_images(chat, image_urls(body), chain, settings, caller)
    models = await chat_models(chain, settings)
    check = answer_check(chat.response_format)
    shell = response_shell(body, settings)
    kept_by = caller.identity if shell["store"] else None
    if body.stream:
        stream = await relay_stream.open_any_stream(models, chat, settings, caller)
        return EventStreamResponse(events(stream, shell, check, kept_by, settings), on_close=stream.abandon)
    answer = await relay.complete_any(models, chat, settings, caller, check)
    output = output_items(answer.text, answer.tool_calls, answer.refusal, answer.reason)
    kept = bool(kept_by) and await keep(kept_by, output, settings)
    return finished({**shell, "store": kept}, answer.model_id, output, answer.reason, answer.usage)


def response_shell(body: ResponsesBody, settings: Settings) -> dict:
    """The response object's fields that echo the request."""
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": body.model,
        "output": [],
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": None,
        "store": keeps(body, settings),
        "temperature": body.temperature,
        "text": {"format": (body.text.format if body.text and body.text.format else {"type": "text"})},
        "tool_choice": tool_choice_echo(body.tool_choice),
        "tools": [t.model_dump(exclude_none=True) for t in body.tools or ()],
        "top_p": body.top_p,
        "truncation": "disabled",
        "usage": None,
        "user": body.user,
        "metadata": body.metadata or {},
    }


def tool_choice_echo(choice: str | FunctionChoice | None) -> str | dict:
    return choice.model_dump() if isinstance(choice, FunctionChoice) else choice or "auto"


def usage_body(used: Usage) -> dict:
    return {
        "input_tokens": used.prompt_tokens,
        "input_tokens_details": {"cached_tokens": used.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": used.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": used.reasoning_tokens},
        "total_tokens": used.prompt_tokens + used.completion_tokens,
    }


def message_item(item_id: str, text: str, refusal: str = "", status: str = "completed") -> dict:
    content = [content_part("output_text", text)] if text or not refusal else []
    if refusal:
        content.append(content_part("refusal", refusal))
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call: ToolCall, status: str = "completed") -> dict:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


def output_items(text: str, calls: list[ToolCall], refusal: str, reason: str) -> list[dict]:
    status = item_status(reason)
    items = [message_item(f"msg_{uuid.uuid4().hex}", text, refusal, status)] if text or refusal or not calls else []
    return items + [call_item(f"fc_{uuid.uuid4().hex}", c, status) for c in calls]


INCOMPLETE = {"length": "max_output_tokens", "content-filter": "content_filter"}  # finish reason -> OpenAI's reason


def item_status(reason: str) -> str:
    """An answer's items are incomplete when it stopped before its end (the token limit, the content filter)."""
    return "incomplete" if reason in INCOMPLETE else "completed"


def finished(shell: dict, model_id: str, output: list[dict], reason: str, used: Usage) -> dict:
    incomplete = INCOMPLETE.get(reason)
    return {
        **shell,
        "model": model_id,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "output": output,
        "usage": usage_body(used),
    }


async def events(stream: relay_stream.ChatStream, shell: dict, check, kept_by: str | None, settings: Settings):
    encoder = ResponseEvents(shell, stream.model_id)
    step = relay_stream.Step()
    yield encoder.start()
    async for part in stream.parts(encoder, step, check):
        yield part
    if step.error is not None:
        yield encoder.error(step.error)
        return
    yield encoder.close_items(step.calls, item_status(step.reason))
    kept = bool(kept_by) and await keep(kept_by, encoder.output, settings)
    yield encoder.event(
        "response.incomplete" if step.reason in INCOMPLETE else "response.completed",
        response=finished({**shell, "store": kept}, stream.model_id, encoder.output, step.reason, step.usage),
    )
