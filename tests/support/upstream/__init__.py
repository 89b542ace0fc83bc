"""Fault-injecting, OpenAI-compatible fake upstream for tests and benchmarks.

Written directly on asyncio streams (``asyncio.start_server``) with a minimal
HTTP/1.1 parser (keep-alive, Content-Length and chunked request bodies) so
that per-request CPU stays small: it doubles as the "near-instant upstream"
for latency benchmarks.

In-process use (the server runs in a daemon thread with its own event loop)::

    with FakeUpstream().start() as up:
        client = AsyncOpenAI(base_url=up.base_url, api_key="x")
        up.script("429", "ok")               # next two chat requests
        ...
        assert up.wait_closed(1.0)           # client went away mid-stream

Foreground (separate process, e.g. for benchmarks)::

    python -m tests.support.upstream --port 9999 [--delay 0.05] [--chunks 20] [--behaviour '{"type": "Spend"}']

A process started that way can be scripted over HTTP:
``POST /__fake/script`` with a JSON list such as
``["429", {"type": "StallMidStream", "after_chunks": 5, "seconds": 3}]``,
``GET /__fake/stats`` and ``POST /__fake/reset``.

Scripted deltas: ``Deltas(deltas, finish)`` streams the given ``delta`` objects (tool-call fragments from
``tool_call_deltas``, ``reasoning_content``, content) as they are, for tool calls and reasoning.

Endpoints: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Reply text: content chunk ``i`` (0-based) is ``REPLY_TOKENS[i % len(REPLY_TOKENS)]``;
``FakeUpstream.reply_text(n)`` is the concatenation of the first ``n`` chunks and
``FakeUpstream.REPLY_TEXT`` is ``reply_text(20)`` (the default chunk count).
With ``max_tokens`` (or ``max_completion_tokens``) smaller than the chunk count
only that many chunks are produced and ``finish_reason`` is ``"length"``.

Usage: ``prompt_tokens`` = number of whitespace-separated words in all message
contents (string contents, or the ``text`` of list-of-parts contents) + 4 per
message; ``completion_tokens`` = number of content chunks.

Spending what a request allows: ``Spend()`` answers with exactly ``max_tokens``
content chunks (finish reason ``"length"``) and reports ``completion_tokens =
max_tokens`` and ``prompt_tokens`` = the UTF-8 bytes of all message contents + 4
per message + 3 (``prompt_bytes(messages)``), the most any byte-level tokenizer can count (the bound a
budget reserves).  ``Spend(extra_completion=k, extra_prompt=j)`` spends more
than allowed: ``k`` chunks past ``max_tokens``, ``j`` tokens over that prompt
count.  ``FakeUpstream(behaviour=Spend())`` makes it the answer to every
request that nothing was scripted for.

Timing: ``delay_s`` (or ``Ok(delay_s=...)``) is waited before the response
headers of a buffered response; for a stream the headers go out at once and the
delay is waited before the first chunk (the ``role`` chunk).  ``SlowFirstByte``
waits before anything at all (headers included), for both kinds.
``chunk_delay_s`` optionally spaces the stream chunks.

Client disconnects: while a response is pending (delay, stall, slow stream,
slow first byte) a watcher task reads the socket; EOF or a reset there, or a
failed write, counts as "closed early" (``closed_early``, ``closed_event``,
``wait_closed``).  This covers streams, and buffered responses that were still
waiting when the client left.
"""

from __future__ import annotations

from .behaviours import (
    Behaviour,
    Deltas,
    MalformedChunk,
    Ok,
    ResetMidStream,
    SlowFirstByte,
    Spend,
    StallMidStream,
    Status,
)
from .behaviours import BehaviourLike as BehaviourLike  # "X as X": public before the split, still importable here
from .behaviours import coerce_behaviour as coerce_behaviour
from .behaviours import tool_call_deltas as tool_call_deltas
from .cli import main as main
from .server import DEFAULT_CHUNKS as DEFAULT_CHUNKS
from .server import DEFAULT_MODELS as DEFAULT_MODELS
from .server import FakeUpstream
from .wire import REPLY_TOKENS, SECRET_MARKER, prompt_bytes

__all__ = [
    "REPLY_TOKENS",
    "SECRET_MARKER",
    "Behaviour",
    "Deltas",
    "FakeUpstream",
    "MalformedChunk",
    "Ok",
    "ResetMidStream",
    "SlowFirstByte",
    "Spend",
    "StallMidStream",
    "Status",
    "prompt_bytes",
]
