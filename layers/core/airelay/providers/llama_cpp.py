"""local/* chat models: llama-cpp-python's OpenAI-compatible server (local/model_server.py), offered tool schemas it
can compile.

llama-cpp-python 0.3.x turns a tool's JSON schema into a grammar that constrains the model's call; it spells a
length or count bound out as one nested optional rule per character or item, so `maxLength: 2000` (analyze_sentiment's
text) is a grammar its parser cannot take, and the server exits. Those keywords are left out of what the server sees;
the call is still checked against the tool's full input model (tools/base.py parse_call) before it runs.
"""

from __future__ import annotations

from .base import ChatRequest
from .openai_compat import OpenAICompatChatModel

UNCOMPILABLE = frozenset({"minLength", "maxLength", "minItems", "maxItems", "pattern"})
NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
VALUES = frozenset({"enum", "const", "default", "examples", "required"})  # data, not schemas


def compilable(schema: object) -> object:
    """The schema without the keywords llama-cpp-python cannot compile, at every depth (a property named like one
    stays)."""
    if isinstance(schema, list):
        return [compilable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    kept = {}
    for key, value in schema.items():
        if key in UNCOMPILABLE:
            continue
        if key in NAMED_SCHEMAS and isinstance(value, dict):
            kept[key] = {name: compilable(s) for name, s in value.items()}
        else:
            kept[key] = value if key in VALUES else compilable(value)
    return kept


class LlamaCppChatModel(OpenAICompatChatModel):
    provider = "local"

    def arguments(self, request: ChatRequest) -> dict:
        args = super().arguments(request)
        for tool in args.get("tools", ()):
            tool["function"]["parameters"] = compilable(tool["function"]["parameters"])
        return args
