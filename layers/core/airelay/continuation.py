"""A posted assistant message whose tool calls now have outputs (useChat's sendAutomaticallyWhen, after a client tool
ran): rebuilt as OpenAI's assistant `tool_calls` and `tool` messages, each call checked first.

Only the newest assistant message is rebuilt; earlier turns reach the model as their text. Each of its tool calls
must carry a proof issued for this chat and message (tools/client.py), have an outcome, and name a tool of this
persona unless the server settled it (a call that could not run may name any); a client tool's output must fit
CLIENT_TOOL_OUTPUT_MAX_CHARS. Outputs reach the model as `tool` messages, data to read (as in the step that made the
call: tools.base.for_model): never a system message, never instructions of the server's. The answer goes on counting its steps from the
last one its proofs sign: a round trip through the browser does not give it another CHAT_MAX_STEPS, and an answer that
has used them all is a 422 before any upstream call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from .errors import InvalidInput, PayloadTooLarge
from .providers.base import ChatRequest
from .settings import Settings
from .steps import TOOL_OUTPUT_MAX_CHARS
from .tools.base import Tool, for_model
from .tools.client import Proofs, is_client_side

DONE_STATES = ("output-available", "output-error")


class ToolCallNotIssued(InvalidInput):
    code = "tool_call_not_issued"
    message = "A tool call in the conversation was not issued by this server for this message."


class ServerToolOutput(InvalidInput):
    code = "server_tool_output"
    message = "The output of a server-run tool comes from the server; the client may not set it."


class ToolOutputMissing(InvalidInput):
    code = "tool_output_missing"
    message = "Every tool call of the last assistant message needs its output before the chat can continue."


class StepsUsedUp(InvalidInput):
    code = "chat_max_steps_reached"
    message = "This answer has used all its steps; send a new message to go on."


class ToolOutputTooLarge(PayloadTooLarge):
    code = "tool_output_too_large"
    message = "A tool output is too large."


class ContinuedTextTooLong(PayloadTooLarge):
    code = "message_too_long"
    message = "The assistant message's text is too long."


@dataclass(slots=True)
class StepCalls:
    text: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # (tool name, the posted part)


def tool_name(part) -> str | None:
    if part.type == "dynamic-tool":
        return getattr(part, "toolName", None)
    return part.type[5:] if part.type.startswith("tool-") else None


def steps_of(parts: list) -> list[StepCalls]:
    steps = [StepCalls()]
    for part in parts:
        if part.type == "step-start":
            if steps[-1].text or steps[-1].calls:
                steps.append(StepCalls())
        elif part.type == "text" and part.text:
            steps[-1].text.append(part.text)
        elif tool_name(part) is not None:
            steps[-1].calls.append((tool_name(part), part.model_dump()))
    return [s for s in steps if s.text or s.calls]


def input_of(call: dict) -> object:
    """The call's input as the server signed it: for a call that could not run, the model's raw arguments, which
    ai 5 and 6 keep as `rawInput` (ai 7 as `input`)."""
    if call.get("state") == "output-error" and call.get("input") is None:
        return call.get("rawInput")
    return call.get("input")


def outcome_of(call: dict) -> dict:
    if call.get("state") == "output-error":
        return {"error": call.get("errorText")}
    return {"output": call.get("output")}


def checked(call: dict, name: str, tools: dict[str, Tool], proofs: Proofs, settings: Settings) -> tuple[str, int]:
    """The call's outcome as the model reads it and the step it was made in; a 4xx when the call is not one this
    server issued as posted."""
    call_id, tool_input = call["toolCallId"], call["input"]
    if call.get("state") not in DONE_STATES:
        raise ToolOutputMissing()
    outcome, proof = outcome_of(call), call.get("proof") or {}
    step = proof.get("step")
    if not proofs.holds(proof.get("call"), call_id, name, tool_input, None, step):
        raise ToolCallNotIssued()
    if "outcome" not in proof and name not in tools:  # a call settled here may name no tool of the persona
        raise ToolCallNotIssued()
    settled_here = "outcome" in proof or not is_client_side(tools[name])
    if settled_here and not proofs.holds(proof.get("outcome"), call_id, name, tool_input, outcome, step):
        raise ServerToolOutput()
    if not settled_here and len(for_model(outcome, None)) > settings.client_tool_output_max_chars:
        raise ToolOutputTooLarge(f"A tool output is longer than {settings.client_tool_output_max_chars} characters.")
    return for_model(outcome, TOOL_OUTPUT_MAX_CHARS), step


def rebuilt(message, tools: dict[str, Tool], proofs: Proofs, settings: Settings) -> tuple[list[dict], int]:
    """The message's steps as OpenAI messages (assistant text and tool_calls, then one `tool` message per call), and
    how many steps of the answer its proofs say were made."""
    proof_of = {
        p.model_extra.get("id"): p.model_extra["data"]
        for p in message.parts
        if p.type == "data-tool-proof"
        and isinstance(p.model_extra.get("id"), str)
        and isinstance(p.model_extra.get("data"), dict)
    }
    steps = steps_of(message.parts)
    if not steps or not steps[-1].calls:
        raise ToolOutputMissing("The last assistant message has no tool calls to continue from.")
    messages: list[dict] = []
    seen: set[str] = set()
    made = 0
    for step in steps:
        text = "".join(step.text)
        if not step.calls:
            messages.append({"role": "assistant", "content": text})
            continue
        calls, results = [], []
        for name, call in step.calls:
            call_id, tool_input = call.get("toolCallId"), input_of(call)
            if not isinstance(call_id, str) or not isinstance(name, str) or call_id in seen:
                raise ToolCallNotIssued()
            seen.add(call_id)
            call = {**call, "input": tool_input, "proof": proof_of.get(call_id)}
            content, made_in = checked(call, name, tools, proofs, settings)
            made = max(made, made_in)
            raw = isinstance(tool_input, str)  # the arguments of a call that could not run, as the model wrote them
            arguments = tool_input if raw else json.dumps(tool_input, ensure_ascii=False)
            calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
            results.append({"role": "tool", "tool_call_id": call_id, "content": content})
        messages += [{"role": "assistant", "content": text or None, "tool_calls": calls}, *results]
    return messages, made


def continued(
    request: ChatRequest, message, tools: dict[str, Tool], proofs: Proofs | None, settings: Settings
) -> tuple[ChatRequest, int]:
    """The request with the posted assistant message's steps after the history, and the steps the answer has made:
    it goes on from there."""
    if proofs is None:
        raise ToolCallNotIssued("This chat has no tools: its last message must be the user's.")
    messages, made = rebuilt(message, tools, proofs, settings)
    if made >= settings.chat_max_steps:
        raise StepsUsedUp()
    written = sum(len(m["content"] or "") for m in messages if m["role"] == "assistant")
    if written > settings.history_max_chars:  # its text is not proven: held to the history's limit
        raise ContinuedTextTooLong(
            f"The assistant message's text is longer than {settings.history_max_chars} characters."
        )
    return replace(request, messages=[*request.messages, *messages]), made
