"""The buffered chat (`POST /api/chat`) with the same steps as the stream: model -> server tool calls -> results ->
the model again, up to CHAT_MAX_STEPS, each step one metered call; the answer as one JSON object with every step's
text, reasoning, tool calls with their results, and the sources. Client-side tools are not offered here: a buffered
caller has no way to post their outputs back.

A failure in any step is the HTTP error that step would have had (429 for a budget reached between steps); the
usage rows of the steps before it are kept. All the steps and tools together have STREAM_DEADLINE_S, as a stream
does (under the function's timeout, which would end the call before its usage is settled): then a 504.
"""

from __future__ import annotations

from dataclasses import replace

import anyio

from . import relay, usage
from .errors import ProviderTimeout
from .providers.base import ChatModel, ChatRequest
from .relay import Answer
from .relay_stream import Step
from .spent import Spent
from .steps import Outcome, for_step, next_request, run_all
from .tools.base import Tool, ToolContext
from .tools.client import is_client_side


def server_tools(tools: dict[str, Tool]) -> dict[str, Tool]:
    return {name: tool for name, tool in tools.items() if not is_client_side(tool)}


def call_json(outcome: Outcome) -> dict:
    call = {"id": outcome.call.id, "name": outcome.call.name, "input": outcome.input}
    if outcome.result is not None:
        return {**call, "output": outcome.result.output}
    return {**call, "error": outcome.input_error or outcome.error}


def shown(answer: Answer) -> str:
    """What the user reads: the text, or the model's refusal (this API's answers have no field of their own for it)."""
    return answer.text or answer.refusal


def step_json(answer: Answer, outcomes: list[Outcome]) -> dict:
    return {
        "text": shown(answer),
        "reasoning": answer.reasoning,
        "tool_calls": [call_json(o) for o in outcomes],
        "finish_reason": answer.reason,
        **Spent(answer.usage, answer.cost_usd).chat_step(),
    }


async def run_steps(
    models: list[ChatModel], request: ChatRequest, tools: dict[str, Tool], context: ToolContext
) -> dict:
    usage.answer_deadline.set(anyio.current_time() + context.settings.stream_deadline_s)
    try:
        with anyio.fail_after(context.settings.stream_deadline_s):
            return await steps_within_deadline(models, request, tools, context)
    except TimeoutError:
        raise ProviderTimeout("The answer took longer than the server's deadline.") from None


async def steps_within_deadline(
    models: list[ChatModel], request: ChatRequest, tools: dict[str, Tool], context: ToolContext
) -> dict:
    settings = context.settings
    tools = server_tools(tools)
    if tools:
        request = replace(request, tools=tuple(t.spec() for t in tools.values()))
    request = for_step(request, 1, settings)
    answers: list[Answer] = [await relay.complete_any(models, request, settings, context.caller)]
    model = next(m for m in models if m.model_id == answers[0].model_id)
    steps, sources = [], []
    while True:
        answer = answers[-1]
        outcomes = [Outcome(call, tools) for call in answer.tool_calls]
        await run_all([o for o in outcomes if o.input_error is None], context)
        steps.append(step_json(answer, outcomes))
        sources += [
            {"id": s.id, "title": s.title, "media_type": s.media_type}
            for o in outcomes
            if o.result is not None
            for s in o.result.sources
        ]
        if not outcomes or len(answers) >= settings.chat_max_steps:
            break
        request = for_step(next_request(request, Step(answer=[answer.text]), outcomes), len(answers) + 1, settings)
        answers.append(await relay.complete(model, request, settings, context.caller))
    return await body(answers, steps, sources, "tool-calls" if answers[-1].tool_calls else answers[-1].reason)


async def body(answers: list[Answer], steps: list[dict], sources: list[dict], reason: str) -> dict:
    spent = Spent.total((a.usage, a.cost_usd) for a in answers)
    return {
        "response": shown(answers[-1]),
        **spent.chat_answer(await usage.meter()),
        "model": answers[0].model_id,
        "finish_reason": reason,
        "reasoning": "".join(a.reasoning for a in answers),
        "steps": steps,
        "sources": sources,
    }
