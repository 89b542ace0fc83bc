"""log_failure (observability.py) logs an unexpected failure by its type and traceback frames. A failure that escapes a
streamed body reaches RequestGate inside an anyio task group (streaming.EventStreamResponse), so as an ExceptionGroup:
the log line must still name the exception that failed and where it was raised, as `log.exception` did before."""

import json

import anyio
import httpx

from airelay.middleware import RequestGate
from airelay.settings import get_settings
from airelay.streaming import EventStreamResponse


class LedgerWriteFailed(Exception):
    """Stands for any unexpected failure of a streamed body (a settlement's ledger write, an encoder bug)."""


QUOTED = "secret-ish text the log must not quote"  # a message quoting a request's text (not the source line)


def raising_here() -> None:
    raise LedgerWriteFailed(QUOTED)


async def streaming_app(scope, receive, send):
    async def body():
        yield b'data: {"type":"start"}\n\n'
        raising_here()

    await EventStreamResponse(body())(scope, receive, send)


def test_a_failure_escaping_a_streamed_body_is_logged_by_its_own_type_and_frames(printed):
    # GIVEN an app behind RequestGate whose streamed body fails after the 200 has started
    gated = RequestGate(streaming_app, settings=get_settings())

    async def main():
        transport = httpx.ASGITransport(app=gated)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            try:
                await client.get("/api/health")
            except Exception:
                pass  # the client's view does not matter here

    # WHEN the request is served
    anyio.run(main)
    lines = [json.loads(line) for line in printed() if line.startswith('{"level"')]
    [logged] = [line for line in lines if line["message"].startswith("unhandled error")]
    everything = json.dumps(logged)
    # THEN the operator can tell what failed and where: the failing type and the function that raised it
    assert "LedgerWriteFailed" in everything, logged["message"]
    assert "raising_here" in everything, logged.get("traceback", "")[-400:]
    # AND (the point of log_failure) the exception's message is still not logged
    assert QUOTED not in everything
