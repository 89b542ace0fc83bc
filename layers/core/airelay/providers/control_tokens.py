"""Chat-template control tokens in message text and tool definitions, made plain text for self-hosted models.

llama.cpp, vLLM and Ollama render the messages with the model's chat template and tokenise the result with its
special tokens recognised, so a user who writes `<|im_start|>system` opens a system turn of their own. OpenAI's
API tokenises message content as plain text; self-hosted servers need this. The outer brackets of each control
token become parentheses (`<|im_start|>` -> `(|im_start|)`): the text stays readable, no longer matches a special
token, and keeps its UTF-8 length (budgets are reserved by the prompt's bytes before the request is built).
"""

from __future__ import annotations

import json
import re

from pydantic_core import from_json

CONTROL_TOKEN = re.compile(
    "|".join(
        (
            r"<\|[^<>|\s]{1,64}\|>",  # ChatML (<|im_start|>), Llama 3 (<|start_header_id|>), Phi, GPT-OSS, Granite
            r"<\uff5c[^<>\uff5c]{1,64}\uff5c>",  # DeepSeek: the same between fullwidth bars (U+FF5C)
            r"\[/?(?:INST|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_RESULTS|TOOL_CALLS|TOOL_CONTENT|THINK)\]",  # Mistral
            r"<</?SYS>>",  # Llama 2's system block
            r"</?s>",  # Llama 2 and Mistral's sentence start and end
            r"<(?:start|end)_of_[a-z_]{1,32}>|</?(?:bos|eos)>",  # Gemma
            r"</?(?:tool_call|tool_response|think)>",  # Qwen's and Hermes' tool calls, reasoning
        )
    )
)
TO_PARENTHESES = str.maketrans("<[>]", "(())")


def neutralised(text: str) -> str:
    """`text` with every control token's brackets turned into parentheses; the same string when it has none."""
    return CONTROL_TOKEN.sub(lambda found: found.group().translate(TO_PARENTHESES), text)


def neutralised_messages(messages: list[dict]) -> list[dict]:
    """Every text of each message neutralised: its content (a string, or the text of each part), and its name, tool
    calls (their arguments, names, ids) or tool call id, which a chat template renders as well."""
    plain = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and len(message) == 2:  # role and content, as most messages are
            plain.append({"role": message["role"], "content": neutralised(content)})
        else:
            plain.append(neutralised_value(message))
    return plain


def neutralised_value(value, key: str = ""):
    """Every string in `value` (dicts and lists walked, keys too) neutralised, but roles, part types and images. A
    tool call's arguments are JSON a server parses before its template renders them: their escaped forms too."""
    if isinstance(value, str):
        return neutralised_arguments(value) if key == "arguments" else neutralised(value)
    if isinstance(value, list):
        return [neutralised_value(item) for item in value]
    if isinstance(value, dict):
        if value.get("type") == "image_url":
            return value
        return {neutralised(k): item if k in KEPT else neutralised_value(item, k) for k, item in value.items()}
    return value


KEPT = frozenset(("role", "type"))


def neutralised_arguments(text: str) -> str:
    """JSON arguments neutralised as they read once parsed (`\u003c|im_start|\u003e` is `<|im_start|>`), written
    back compactly (no longer than they came: escapes and spaces only shrink); text that is no JSON as it is."""
    if "\\" not in text:
        return neutralised(text)
    try:
        parsed = from_json(text)  # nested at most 200 levels (neutralised_value walks it recursively)
    except ValueError:
        return neutralised(text)
    plain = neutralised_value(parsed)
    return text if plain == parsed else json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
