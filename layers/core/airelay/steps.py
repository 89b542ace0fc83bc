"""The multi-step chat loop: model -> tool calls (in parallel) -> results -> next step, up to CHAT_MAX_STEPS.

Each step is one upstream call with its own budget hold and usage row, framed start-step ... finish-step.
How each ending looks on the wire (the UI message stream):
- an answer without tool calls: finish-step, data-usage, finish (the model's reason, message metadata);
- a tool call that cannot run (unknown tool, arguments that are not its input): tool-input-error; one that
  raises or runs past its deadline: tool-output-error; either way the model reads the error in the next step;
- tool calls in the last allowed step: they run, then finish with reason "tool-calls";
- a call of a client-side tool: its input parts (no providerExecuted), the other calls run, then finish with reason
  "tool-calls": the browser runs it and posts the conversation again (continuation.py);
- a next step the budget (or the provider) refuses, an upstream failure in any step, or the answer running past
  STREAM_DEADLINE_S (one deadline for all its steps and tools: running tools are stopped): data-error (the status and
  code an HTTP answer would have had), data-usage, error; never a finish. Every step's row is kept, and data-usage
  counts every step billed, a step whose call failed before its first token too.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import anyio

from . import relay_stream, usage
from .errors import AirelayError, ProviderTimeout
from .providers.base import ChatRequest, ToolCall
from .relay_stream import ChatStream, Step
from .settings import Settings
from .spent import Spent
from .streaming import UIMessageStream
from .tools.base import Tool, ToolContext, ToolFailed, ToolInputError, ToolResult, for_model, parse_call, run_tool
from .tools.client import Proofs, is_client_side

PAST_DEADLINE = "The answer took longer than the server's deadline."
STOPPED_AT_DEADLINE = "The answer's deadline stopped the tool."
TOOL_OUTPUT_MAX_CHARS = 16_000  # what the model reads of one tool's output, and the browser is sent


class Outcome:
    """One tool call's fate: input (as the model wrote it), then a result or an error."""

    __slots__ = ("call", "error", "input", "input_error", "result", "tool", "validated")

    def __init__(self, call: ToolCall, tools: dict[str, Tool]) -> None:
        self.call = call
        self.result: ToolResult | None = None
        self.error: str | None = None
        self.input_error: str | None = None
        self.tool: Tool | None = None
        self.input: object = call.arguments
        try:
            self.tool, self.validated, self.input = parse_call(call, tools)
        except ToolInputError as exc:
            self.input_error = str(exc)

    async def run(self, context: ToolContext) -> None:
        try:
            self.result = await run_tool(self.tool, self.validated, context)
        except ToolFailed as exc:
            self.error = str(exc)

    @property
    def in_browser(self) -> bool:
        """A valid call of a client-side tool: the browser runs it, the answer waits for its output."""
        return self.input_error is None and is_client_side(self.tool)

    def outcome(self) -> dict | None:
        """What the proof covers besides the input: the result or error, or None while the browser runs it."""
        if self.in_browser:
            return None
        if self.result is None:
            return {"error": self.input_error or self.error}
        return {"output": self.sent()}

    def for_model(self) -> str:
        """What the model reads: the outcome the browser is sent (and posts back in a continuation), as JSON."""
        settled = {"error": self.input_error or self.error} if self.result is None else {"output": self.sent()}
        return for_model(settled, TOOL_OUTPUT_MAX_CHARS)

    def sent(self) -> object:
        """The output as the browser gets it: whole, or when its JSON is longer than TOOL_OUTPUT_MAX_CHARS, what the
        model reads of it, marked as cut. useChat keeps it in the message and posts it with every later message."""
        whole = json.dumps(self.result.output, ensure_ascii=False)
        if len(whole) <= TOOL_OUTPUT_MAX_CHARS:
            return self.result.output
        return {"truncated": True, "text": whole[:TOOL_OUTPUT_MAX_CHARS]}


async def ui_message_stream(
    first: ChatStream,
    tools: dict[str, Tool],
    context: ToolContext,
    encoder: UIMessageStream,
    proofs: Proofs | None = None,
    made: int = 0,
) -> AsyncIterator[bytes]:
    """Yields the whole answer's SSE bytes, step after step, ending in `finish` or `error` (see above). With
    `proofs`, every tool call gets its `data-tool-proof` part, so the conversation can continue after it. `made`:
    the steps the answer made before this request (a continuation), counted against CHAT_MAX_STEPS."""
    settings = context.settings
    stream: ChatStream | None = first
    steps: list[Step] = []
    try:
        yield encoder.start()
        while True:
            step = Step()
            steps.append(step)
            yield encoder.start_step()
            async for chunk in stream.parts(encoder, step):
                yield chunk
            if step.error is not None:
                yield failure(encoder, step.error, first, steps, made)
                return
            if not step.calls:
                yield encoder.finish_step() + finish(encoder, step.reason, first, steps, made)
                return
            outcomes = [Outcome(call, tools) for call in step.calls]
            yield b"".join(input_parts(encoder, o) for o in outcomes)
            run_here = [o for o in outcomes if o.input_error is None and not o.in_browser]
            if not await ran_in_time(run_here, context, first.deadline):
                stopped = [o for o in run_here if o.result is None and o.error is None]
                for outcome in stopped:
                    outcome.error = STOPPED_AT_DEADLINE
                yield b"".join(result_parts(encoder, o) for o in stopped)  # settled in the message, not left running
                yield failure(encoder, ProviderTimeout(PAST_DEADLINE), first, steps, made)
                return
            number = made + len(steps)
            yield b"".join(output_parts(encoder, o, proofs, number) for o in outcomes) + encoder.finish_step()
            if number >= settings.chat_max_steps or any(o.in_browser for o in outcomes):
                yield finish(encoder, "tool-calls", first, steps, made)
                return
            request = for_step(next_request(stream.request, step, outcomes), number + 1, settings)
            stream = None
            try:
                stream = await relay_stream.open_stream(
                    first.model, request, settings, context.caller, first.deadline, billed=steps_billed(steps)
                )
            except AirelayError as exc:
                yield failure(encoder, exc, first, steps, made)
                return
    finally:
        if stream is not None:
            await stream.abandon()


def steps_billed(steps: list[Step]) -> relay_stream.Billed:
    """Adds a step whose call failed before its first event to the answer's steps, with what it was billed."""
    return lambda used, cost: steps.append(Step(usage=used, cost=cost))


async def ran_in_time(outcomes: list[Outcome], context: ToolContext, deadline: float) -> bool:
    """Runs a step's server tools until the answer's deadline (time.monotonic()); a metered call of theirs cut there
    is an error: usage.answer_deadline is on the event loop's clock, which uvloop keeps in whole milliseconds. False
    when the deadline stopped them."""
    token = usage.answer_deadline.set(anyio.current_time() + deadline - time.monotonic())
    try:
        with anyio.move_on_after(max(deadline - time.monotonic(), 0)) as scope:
            await run_all(outcomes, context)
        return not scope.cancelled_caught
    finally:
        usage.answer_deadline.reset(token)


async def run_all(outcomes: list[Outcome], context: ToolContext) -> None:
    if len(outcomes) == 1:
        await outcomes[0].run(context)
        return
    async with anyio.create_task_group() as group:
        for outcome in outcomes:
            group.start_soon(outcome.run, context)


def input_parts(encoder: UIMessageStream, outcome: Outcome) -> bytes:
    call = outcome.call
    if outcome.input_error is not None:
        return encoder.tool_input_error(call.id, call.name, call.arguments, outcome.input_error)
    return encoder.tool_input(call.id, call.name, outcome.input)


def output_parts(encoder: UIMessageStream, outcome: Outcome, proofs: Proofs | None, step: int) -> bytes:
    call = outcome.call
    proof = b""
    if proofs is not None:
        proof = encoder.proof(call.id, proofs.of(call.id, call.name, outcome.input, outcome.outcome(), step))
    if outcome.input_error is not None or outcome.in_browser:
        return proof
    return result_parts(encoder, outcome) + proof


def result_parts(encoder: UIMessageStream, outcome: Outcome) -> bytes:
    if outcome.result is None:
        return encoder.tool_error(outcome.call.id, outcome.error or "The tool failed.")
    sources = b"".join(encoder.source_document(s.id, s.title, s.media_type) for s in outcome.result.sources)
    return encoder.tool_output(outcome.call.id, outcome.sent()) + sources


def for_step(request: ChatRequest, number: int, settings: Settings) -> ChatRequest:
    """The request of the answer's step `number`. The last step CHAT_MAX_STEPS allows is offered no tool call
    (tool_choice "none", as the AI SDK's prepareStep would): it ends the answer in text, not in a call that no later
    step may answer (a continuation past the last step is a 422)."""
    if request.tools and number >= settings.chat_max_steps:
        return replace(request, tool_choice="none")
    return request


def next_request(request: ChatRequest, step: Step, outcomes: list[Outcome]) -> ChatRequest:
    """The conversation so far, with this step's tool calls and their results in OpenAI's message shape."""
    calls = [
        {"id": o.call.id, "type": "function", "function": {"name": o.call.name, "arguments": o.call.arguments}}
        for o in outcomes
    ]
    messages = [
        *request.messages,
        {"role": "assistant", "content": "".join(step.answer), "tool_calls": calls},
        *({"role": "tool", "tool_call_id": o.call.id, "content": o.for_model()} for o in outcomes),
    ]
    return replace(request, messages=messages, tool_choice=None)  # a forced tool is the first step's only


def totals(first: ChatStream, steps: list[Step], made: int) -> dict:
    """This request's usage and cost; `steps` counts the whole answer's, those made before it too."""
    return Spent.total((s.usage, s.cost) for s in steps).stream_data(first.model_id, first.meter, made + len(steps))


def finish(encoder: UIMessageStream, reason: str, first: ChatStream, steps: list[Step], made: int) -> bytes:
    usage = totals(first, steps, made)
    metadata = {k: usage[k] for k in ("model", "inputTokens", "outputTokens", "costUsd", "steps")}
    return encoder.finish(reason, usage, metadata)


def failure(encoder: UIMessageStream, error: AirelayError, first: ChatStream, steps: list[Step], made: int) -> bytes:
    meaning = {"status": error.status, "code": error.code}
    if error.retry_after is not None:
        meaning["retryAfter"] = error.retry_after
    return encoder.data("error", meaning) + encoder.error(error.message, totals(first, steps, made))
