"""Every streamed answer settles its call once, however early the client leaves: while the first event is written
(the disconnect watcher cancels the body at its first step), or when the server's send fails at the response's start
(the body never starts, so its own cleanup never runs: EventStreamResponse's on_close settles it, as the routes
pass it) or at its first body message. The upstream is closed and one usage row written, the hold released."""

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import anyio
import pytest

from airelay import relay, relay_stream, steps, tokens, usage
from airelay.errors import ProviderRateLimited
from airelay.openai_api import chat as openai_chat
from airelay.openai_api import responses as openai_responses
from airelay.providers.base import ChatModel, ChatRequest, Finished, TextDelta, Usage, upstream_retry_after
from airelay.settings import Settings, get_settings
from airelay.streaming import EventStreamResponse, UIMessageStream
from airelay.tools.base import ToolContext
from airelay.usage import Caller
from airelay.usage.ledger import TOTAL
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger

PAID = "openai/gpt-4o-mini"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def sqlite_meter(tmp_path, daily="1", mine="0.5", **more) -> Meter:
    settings = Settings(daily_budget_usd=Decimal(daily), identity_daily_budget_usd=Decimal(mine), **more)
    return Meter(SqliteLedger(tmp_path / "usage.sqlite3"), load_prices(), settings)


class Scripted(ChatModel):
    provider = "openai"

    def __init__(self, model_id: str = PAID, events=None) -> None:
        super().__init__(model_id)
        self.events = events or [TextDelta("hello"), TextDelta(" world"), Finished("stop", Usage(20, 2))]
        self.closed = False

    async def stream(self, request: ChatRequest):
        try:
            for event in self.events:
                yield event
        finally:
            self.closed = True


@pytest.fixture
def meter(tmp_path, monkeypatch):
    meter = sqlite_meter(tmp_path)
    monkeypatch.setattr(usage, "_meter", meter)
    return meter


async def serve_to_a_client_that_leaves(response):
    """An ASGI server whose writes yield to the loop (as a socket write does), and whose client has gone."""

    async def send(message):
        await anyio.sleep(0)

    async def receive():
        return {"type": "http.disconnect"}

    await response({"type": "http"}, receive, send)


async def serve_to_a_client_gone_at(response, failing: str, marker: bytes = b""):
    """An ASGI server whose send raises OSError once the client is gone (ASGI 2.4 lets it; EventStreamResponse
    expects it): from the first message of type `failing` that holds `marker`."""

    async def send(message):
        if message["type"] == failing and marker in message.get("body", b""):
            raise OSError("client disconnected")

    async def receive():
        await anyio.sleep_forever()

    try:
        await response({"type": "http"}, receive, send)
    except OSError:
        pass


async def opened(model):
    from airelay.settings import get_settings

    request = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=100)
    caller = Caller("r1", "ip:1", "openai")
    return await relay_stream.open_stream(model, request, get_settings(), caller), caller


def check_settled(meter, model):
    totals = meter.ledger.day_totals(today())
    rows = meter.ledger.rows(today())
    assert model.closed, "the upstream stream was never closed"
    assert len(rows) == 1, f"no usage row written: {rows}"
    assert totals[TOTAL].committed == rows[0].cost_usd, "the call's worst case stays held on the budget"


@pytest.mark.parametrize("kind", ["chat.completions", "responses"])
def test_a_v1_stream_whose_client_leaves_at_the_first_event_is_settled(meter, kind):
    model = Scripted()

    async def main():
        stream, _ = await opened(model)
        if kind == "chat.completions":
            body = openai_chat.chunks(stream, False, None)
        else:
            body = responses_events(stream)
        await serve_to_a_client_that_leaves(EventStreamResponse(body, on_close=stream.abandon))

    asyncio.run(main())
    check_settled(meter, model)


def test_the_ui_message_stream_in_the_same_situation_is_settled(meter):
    model = Scripted()

    async def main():
        from airelay.settings import get_settings

        stream, caller = await opened(model)
        context = ToolContext(get_settings(), caller)
        body = steps.ui_message_stream(stream, {}, context, UIMessageStream())
        await serve_to_a_client_that_leaves(EventStreamResponse(body, on_close=stream.abandon))

    asyncio.run(main())
    check_settled(meter, model)


class _Body:
    """The fields response_shell reads from a ResponsesBody."""

    instructions = None
    max_output_tokens = None
    model = "openai/gpt-4o-mini"
    parallel_tool_calls = None
    temperature = None
    text = None
    tool_choice = None
    tools = None
    top_p = None
    user = None
    metadata = None
    store = False


def responses_events(stream):
    from airelay.settings import get_settings

    settings = get_settings()
    return openai_responses.events(stream, openai_responses.response_shell(_Body(), settings), None, None, settings)


def bodies(kind, stream, caller):
    from airelay.settings import get_settings

    if kind == "chat.completions":
        return openai_chat.chunks(stream, False, None)
    if kind == "responses":
        return responses_events(stream)
    return steps.ui_message_stream(stream, {}, ToolContext(get_settings(), caller), UIMessageStream())


@pytest.mark.parametrize("kind", ["chat.completions", "responses", "ui"])
@pytest.mark.parametrize("failing", ["http.response.start", "http.response.body"])
def test_a_stream_whose_send_fails_with_oserror_is_settled(meter, kind, failing):
    model = Scripted()

    async def main():
        stream, caller = await opened(model)
        response = EventStreamResponse(bodies(kind, stream, caller), on_close=stream.abandon)  # as the routes make it
        await serve_to_a_client_gone_at(response, failing)

    asyncio.run(main())
    check_settled(meter, model)


class Breaks(Scripted):
    """A model whose stream fails in a way no provider error names: a fault of this server."""

    async def stream(self, request: ChatRequest):
        try:
            yield TextDelta("hello")
            raise RuntimeError("a bug")
        finally:
            self.closed = True


def test_a_fault_of_the_server_mid_stream_ends_in_an_error_part_and_an_error_row(meter):
    # GIVEN a stream that fails after its first text with an exception no provider error names
    model = Breaks()

    async def main():
        stream, _ = await opened(model)
        return [chunk async for chunk in openai_chat.chunks(stream, False, None)]

    # WHEN it is encoded
    chunks = asyncio.run(main())
    # THEN the client gets the text, then an error event (never a cut connection or a clean stop)
    assert b"hello" in chunks[1] and b'"error"' in chunks[-1] and b"[DONE]" not in chunks[-1]
    # AND the call is settled once, as an error, its tokens counted
    [row] = meter.ledger.rows(today())
    assert (row.status, row.completion_tokens > 0, model.closed) == ("error", True, True)


@pytest.mark.parametrize("kind", ["chat.completions", "responses", "ui"])
def test_a_client_gone_mid_answer_is_billed_the_text_streamed(meter, kind, monkeypatch):
    async def estimate_inline(request, completion, chunks=0, *, model_id=None):  # the same count without the thread
        definitions = tokens.request_definitions(request)  # hop, so that the row does not depend on which estimate
        return tokens.estimate(request.messages, completion, chunks, definitions, model_id)  # finishes first

    monkeypatch.setattr(relay, "estimate_request", estimate_inline)
    # GIVEN a model streaming five text chunks, of which the client received three before leaving
    model = Scripted(events=[TextDelta(f"word{i} ") for i in range(5)] + [Finished("stop", Usage(20, 5))])

    async def main():
        stream, caller = await opened(model)
        response = EventStreamResponse(bodies(kind, stream, caller), on_close=stream.abandon)
        await serve_to_a_client_gone_at(response, "http.response.body", b"word3")

    asyncio.run(main())
    # THEN the row counts the completion tokens generated and sent (at least one a chunk), not the prompt's alone
    [row] = meter.ledger.rows(today())
    assert (row.status, row.completion_tokens >= 3) == ("cancelled", True)


class Refusing(ChatModel):
    """What the OpenAI SDK does through a 429 storm: its event hook records Retry-After, it waits and retries."""

    provider = "openai"

    async def stream(self, request: ChatRequest):
        upstream_retry_after.set(3)
        await anyio.sleep(30)
        yield None

    async def complete(self, request: ChatRequest):
        upstream_retry_after.set(3)
        await anyio.sleep(30)


@pytest.mark.parametrize("how", ["complete", "stream"])
def test_a_call_cut_by_the_deadline_during_a_429_storm_bills_nothing(meter, how):
    # GIVEN a provider that keeps refusing with 429s, and a deadline of 0.2 s
    settings = dataclasses.replace(get_settings(), upstream_timeout_s=0.2)
    request = ChatRequest(messages=[{"role": "user", "content": "hello there " * 20}], max_tokens=100)
    model = Refusing("openai/gpt-4o-mini")

    async def main():
        call = relay.complete if how == "complete" else relay_stream.open_stream
        with pytest.raises(ProviderRateLimited):
            await call(model, request, settings, Caller("r1", "ip:1", "openai"))

    # WHEN the deadline cuts it THEN the caller gets the 429, and the call bills nothing: the prompt was never taken
    asyncio.run(main())
    [row] = meter.ledger.rows(today())
    assert (row.status, row.prompt_tokens) == ("error", 0)
