"""Server-side personas: system prompts kept as data, chosen by name, never sent by the client."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def personas() -> dict[str, dict[str, str]]:
    return json.loads(resources.files("airelay").joinpath("data/personas.json").read_text("utf-8"))


def system_prompt(name: str) -> str | None:
    persona = personas().get(name)
    return persona["system"] if persona else None
