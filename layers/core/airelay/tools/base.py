"""A server-side tool: a name, a description, a pydantic input model and an async run with its own deadline."""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import anyio
from pydantic import BaseModel, ValidationError

from ..errors import AirelayError
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


def parse_call(call: ToolCall, tools: dict[str, Tool]) -> tuple[Tool, BaseModel, object]:
    """The tool and its validated input; the input as the model wrote it, for the client to show."""
    tool = tools.get(call.name)
    if tool is None:
        raise ToolInputError(f"There is no tool named '{call.name[:80]}'.")
    try:
        raw = json.loads(call.arguments or "{}")
    except (ValueError, RecursionError):
        raise ToolInputError("The tool's arguments are not valid JSON.") from None
    try:
        return tool, tool.Input.model_validate(raw), raw
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()[:5])
        raise ToolInputError(f"The tool's arguments do not fit its input: {problems}") from None


async def run_tool(tool: Tool, arguments: BaseModel, context: ToolContext) -> ToolResult:
    """Runs within the tool's deadline; every failure becomes a ToolFailed with a message safe to show."""
    try:
        with anyio.fail_after(tool.timeout_s):
            result = await tool.run(arguments, context)
        if not isinstance(result, ToolResult):
            result = ToolResult(result)
        json.dumps(
            result.output, allow_nan=False
        )  # what the client and the model are sent: JSON (no NaN), or it failed
        return result
    except TimeoutError:
        raise ToolFailed(f"The tool {tool.name} took longer than {tool.timeout_s:g} s.") from None
    except AirelayError as exc:
        raise ToolFailed(exc.message) from None
    except Exception:
        log.exception("tool %s failed", tool.name)
        raise ToolFailed(f"The tool {tool.name} failed.") from None
