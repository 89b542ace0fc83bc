"""What an upstream reports it used, made safe to bill: whole non-negative counts, within what the call held."""

from __future__ import annotations

import logging

from ..providers.base import Usage

log = logging.getLogger("airelay.usage")


def whole_count(value) -> int:
    """A reported token count as a non-negative int; 0 for anything that is not a finite number."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def billable(used: Usage) -> Usage:
    """The counts as whole non-negative numbers, no more cached tokens than prompt tokens; marked estimated if that
    changed any of them."""
    prompt = whole_count(used.prompt_tokens)
    completion, cached = whole_count(used.completion_tokens), min(whole_count(used.cached_tokens), prompt)
    changed = (prompt, completion, cached) != (used.prompt_tokens, used.completion_tokens, used.cached_tokens)
    reasoning = min(whole_count(used.reasoning_tokens), completion)
    return Usage(prompt, completion, cached, bool(used.estimated) or changed, reasoning)


def within_bounds(used: Usage, prompt_limit: int, completion_limit: int) -> Usage:
    """Never more tokens than the call held: an upstream that reports more (it ignored max_tokens, or counts the
    prompt past any tokenizer's bound) is billed the bounds, marked estimated."""
    if used.prompt_tokens <= prompt_limit and used.completion_tokens <= completion_limit:
        return used
    if not used.estimated:  # an estimate of ours over the bounds is no news
        log.warning(
            "the provider reported %d prompt and %d completion tokens, over the %d and %d reserved: "
            "billing the reserved counts",
            used.prompt_tokens,
            used.completion_tokens,
            prompt_limit,
            completion_limit,
        )
    prompt, completion = min(used.prompt_tokens, prompt_limit), min(used.completion_tokens, completion_limit)
    return Usage(prompt, completion, min(used.cached_tokens, prompt), True, min(used.reasoning_tokens, completion))
