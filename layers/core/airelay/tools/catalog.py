"""Which tools a persona's chat may call: CHAT_TOOLS names them among the built-in ones and TOOLS_MODULE's."""

from __future__ import annotations

import importlib
from functools import cache

from ..settings import Settings
from .base import Tool
from .builtin import BUILTIN


@cache
def available(tools_module: str) -> dict[str, Tool]:
    """The built-in tools and, when a module is named, its `TOOLS` (Tool instances), which may replace them."""
    tools = {cls.name: cls() for cls in BUILTIN}
    if tools_module:
        try:
            module = importlib.import_module(tools_module)
        except ImportError as exc:
            raise ValueError(f"TOOLS_MODULE {tools_module!r} cannot be imported ({exc.msg})") from None
        for tool in module.TOOLS:
            if not isinstance(tool, Tool):
                raise TypeError(f"{tools_module}.TOOLS holds {tool!r}, not an airelay.tools.base.Tool")
            tools[tool.name] = tool
    return tools


def tools_for(persona: str, settings: Settings) -> dict[str, Tool]:
    names = settings.persona_tools.get(persona, ())
    if not names:
        return {}
    tools = available(settings.tools_module)
    missing = [n for n in names if n not in tools]
    if missing:
        raise ValueError(f"CHAT_TOOLS names tools that do not exist: {', '.join(missing)}")
    return {n: tools[n] for n in names}
