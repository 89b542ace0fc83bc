"""How long an upstream asks to be left alone: its `retry-after-ms` or `retry-after` header, read as the OpenAI SDK
reads it."""

from __future__ import annotations

import email.utils
import math
import time

MAX_RETRY_AFTER_S = 120.0  # a server asking for a longer wait is not retried
INFINITY = ("inf", "+inf", "infinity", "+infinity")


def retry_after_s(headers) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, else `retry-after` in seconds or as an HTTP date."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if math.isfinite(delay):
            return delay / divisor
        # a number too large for a float asks for a longer wait than any retried; "inf" or "nan" says nothing
        return MAX_RETRY_AFTER_S + 1 if delay == math.inf and value.strip().lower() not in INFINITY else None
    try:
        when = email.utils.parsedate_tz(headers.get("retry-after"))
        return None if when is None else email.utils.mktime_tz(when) - time.time()
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def retry_after(headers) -> int | None:
    """Retry-After for our own 429: whole seconds, at least 1."""
    wait = retry_after_s(headers)
    return max(1, math.ceil(min(wait, 86_400))) if wait is not None and wait > 0 else None
