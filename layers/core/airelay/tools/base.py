"""A server-side tool: a name, a description, a pydantic input model and an async run with its own deadline."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import anyio
from pydantic import BaseModel, ValidationError

from .. import usage
from ..errors import AirelayError
from ..observability import log_failure
from ..providers.base import ToolCall, ToolSpec
from ..settings import Settings
from ..usage import Caller

log = logging.getLogger("airelay.tools")


@dataclass(frozen=True, slots=True)
class Source:
    """A document a tool's answer came from, shown to the user as a `source-document` part."""

    id: str
    title: str
    media_type: str = "text/plain"


@dataclass(slots=True)
class ToolResult:
    output: dict | list | str | int | float | bool | None
    sources: list[Source] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may use besides its input: the settings, who is calling (for metering), and the images of the
    conversation (data: or http(s) URLs, oldest first)."""

    settings: Settings
    caller: Caller
    images: tuple[str, ...] = ()


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    Input: ClassVar[type[BaseModel]]
    timeout_s: ClassVar[float] = 10.0

    @abstractmethod
    async def run(self, arguments: BaseModel, context: ToolContext) -> ToolResult: ...

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.Input.model_json_schema())


class ToolInputError(Exception):
    """The call cannot run: an unknown tool, or arguments that are not the tool's input."""


class ToolFailed(Exception):
    """The tool ran and failed, or ran past its deadline."""


def not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def finite(text: str) -> float:
    """A number of the arguments as a float; one no float holds (1e400) is refused, as NaN and Infinity are."""
    value = float(text)
    if math.isinf(value):
        raise ValueError("a number out of range")
    return value


def parse_call(call: ToolCall, tools: dict[str, Tool]) -> tuple[Tool, BaseModel, object]:
    """The tool and its validated input; the input as the model wrote it, for the client to show."""
    tool = tools.get(call.name)
    if tool is None:
        raise ToolInputError(f"There is no tool named '{call.name[:80]}'.")
    try:
        raw = json.loads(call.arguments or "{}", parse_constant=not_json, parse_float=finite)
    except (ValueError, RecursionError):
        raise ToolInputError("The tool's arguments are not valid JSON.") from None
    try:
        return tool, tool.Input.model_validate(raw), raw
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()[:5])
        raise ToolInputError(f"The tool's arguments do not fit its input: {problems}") from None


def for_model(outcome: dict, max_chars: int | None) -> str:
    """A settled call as the model reads it in its `tool` message, in the step that made the call as after a
    continuation: `{"error": ...}`, or the output the browser was sent (a long one marked as cut) as JSON, cut to
    `max_chars` (None: whole)."""
    if "output" not in outcome:
        return json.dumps({"error": outcome.get("error")}, ensure_ascii=False)
    return json.dumps(outcome["output"], ensure_ascii=False)[:max_chars]


CLEANUP_S = 0.5  # how long a tool stopped at its deadline may take to clean up (settle its metering)
left_running: set[asyncio.Task] = set()  # tools past their deadline, held until they end


async def run_tool(tool: Tool, arguments: BaseModel, context: ToolContext) -> ToolResult:
    """Runs within the tool's deadline; every failure becomes a ToolFailed with a message safe to show. The output
    is what the client and the model are sent: JSON (no NaN) as the browser reads it back, every key a string."""
    try:
        result = await within_deadline(tool, arguments, context)
        if not isinstance(result, ToolResult):
            result = ToolResult(result)
        result.output = json.loads(json.dumps(result.output, allow_nan=False))
        return result
    except TimeoutError:
        raise ToolFailed(f"The tool {tool.name} took longer than {tool.timeout_s:g} s.") from None
    except AirelayError as exc:
        raise ToolFailed(exc.message) from None
    except Exception as exc:
        log_failure(log, f"tool {tool.name} failed", exc)
        raise ToolFailed(f"The tool {tool.name} failed.") from None


async def within_deadline(tool: Tool, arguments: BaseModel, context: ToolContext) -> ToolResult:
    """The tool's result, or TimeoutError at its deadline even if the tool cannot stop there (a wait on a worker
    thread ignores cancellation). Past its deadline, or when the answer is cancelled, the tool is cancelled and has
    CLEANUP_S to end; then it is left to end on its own and its result is dropped. It runs in a task of its own,
    an asyncio one: anyio has no way to stop waiting for a task it started."""
    scope = anyio.CancelScope()
    deadline = anyio.current_time() + tool.timeout_s

    async def run() -> ToolResult:
        usage.answer_deadline.set(min(usage.answer_deadline.get(), deadline))  # its calls cut there: errors
        with scope:
            return await tool.run(arguments, context)
        raise TimeoutError

    task = asyncio.ensure_future(run())
    try:
        done, _ = await asyncio.wait({task}, timeout=max(deadline - anyio.current_time(), 0))
    finally:
        if not task.done():
            scope.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=CLEANUP_S)
            if not task.done():
                log.warning("tool %s still runs past its deadline; its result will be dropped", tool.name)
            left_running.add(task)
            task.add_done_callback(dropped)
    if not done:
        raise TimeoutError
    return task.result()


def dropped(task: asyncio.Task) -> None:
    """The end of a tool that ran past its deadline: its result is not used, a failure is only logged."""
    left_running.discard(task)
    failure = None if task.cancelled() else task.exception()
    if failure is not None and not isinstance(failure, TimeoutError):  # TimeoutError: it stopped when told to
        log_failure(log, "a tool past its deadline failed", failure)
