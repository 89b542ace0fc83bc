"""What the fake upstream puts on the wire.

The reply text (``REPLY_TOKENS``) and the marker its error bodies carry
(``SECRET_MARKER``), pre-rendered JSON/SSE pieces of the chat completion
chunks, HTTP/1.1 chunk framing, OpenAI-style error bodies and the prompt
token count reported in ``usage``.
"""

from __future__ import annotations

import json
from typing import Any

SECRET_MARKER = "UPSTREAM-SECRET-sk-test-123"

# Tricky content on purpose: bare "\n", "\n\n", a literal SSE terminator inside
# the content, multi-byte UTF-8 (Hangul) and a 4-byte emoji (surrogate pair in
# UTF-16), quotes and a backslash.  JSON is emitted with ensure_ascii=False, so
# the raw UTF-8 bytes go over the wire as real OpenAI does.
REPLY_TOKENS: tuple[str, ...] = (
    "Hello",
    " there",
    "!\n",
    "안녕하세요",
    " 👋",
    "\n\n",
    "data: [DONE]",
    " and",
    ' "quoted"',
    " back\\slash",
    " end",
    ".",
)

_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    # status: (type, code, message)
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: {secret}."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden ({secret})."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist ({secret})."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests on key {secret}. Please try again in 1s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request ({secret})."),
    502: ("server_error", None, "Bad gateway ({secret})."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later ({secret})."),
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_TOKEN_DELTAS = tuple('{"content":' + _dumps(t) + "}" for t in REPLY_TOKENS)
_CHUNK_TAIL = ',"logprobs":null,"finish_reason":null}]'
_USAGE_NULL = ',"usage":null'
_DONE_EVENT = b"data: [DONE]\n\n"
_MALFORMED_EVENT = b"data: {not json\n\n"
_CHUNKED_END = b"0\r\n\r\n"

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"server: fake-upstream\r\n"
)


def _frame(event: bytes) -> bytes:
    """One SSE event as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


def _error_body(status: int, message: str | None = None) -> bytes:
    etype, code, default = _ERROR_DEFAULTS.get(status, ("server_error", None, "Upstream error {secret}."))
    msg = (message if message is not None else default).replace("{secret}", SECRET_MARKER)
    if SECRET_MARKER not in msg:
        msg = f"{msg} ({SECRET_MARKER})"
    return _dumps({"error": {"message": msg, "type": etype, "param": None, "code": code}}).encode()


def _count_prompt_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for m in messages:
        total += 4
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            total += len(c.split())
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"].split())
    return total


def prompt_bytes(messages: Any) -> int:
    """The most tokens any byte-level tokenizer can make of a prompt: one per UTF-8 byte of each content, 4 per
    message (its role and separators) and 3 to prime the reply. ``Spend`` reports it as ``prompt_tokens``."""
    if not isinstance(messages, list):
        return 0
    total = 3
    for m in messages:
        total += 4
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            total += len(c.encode())
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"].encode())
    return total
