"""For these tests (besides the /v1 fixtures of tests/integration/openai_api/conftest.py): an upstream that answers content
as Mistral's reasoning models send it: a list of typed parts, buffered (the fake upstream's `Deltas` joins content as
strings, so a buffered list of parts needs its own server) and streamed, with the usage it is told to report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.support.servers import ServerThread

REPORTED = {  # what the upstream says each answer used, cached and reasoning shares included; within what airelay
    # reserves for the prompt (a report over the reservation is billed the reservation)
    "prompt_tokens": 9,
    "completion_tokens": 37,
    "total_tokens": 46,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 29},
}


@dataclass
class Answer:
    """One scripted answer: `message` when asked buffered, `deltas` (one chunk each) when asked to stream."""

    message: dict | None = None
    deltas: tuple[dict, ...] = ()
    finish: str = "stop"
    usage: dict = field(default_factory=lambda: dict(REPORTED))


class PartsUpstream:
    """POST /v1/chat/completions answering the scripted answers in turn; the request bodies are kept."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[dict] = []
        self.server = ServerThread(Starlette(routes=[Route("/v1/chat/completions", self.answer, methods=["POST"])]))

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def answer(self, request: Request):
        body = await request.json()
        self.requests.append(body)
        scripted = self.answers.pop(0)
        head = {"id": "chatcmpl-parts", "created": 0, "model": body.get("model")}
        if not body.get("stream"):
            choice = {"index": 0, "message": scripted.message, "finish_reason": scripted.finish}
            return JSONResponse({**head, "object": "chat.completion", "choices": [choice], "usage": scripted.usage})

        def event(choices: list, **extra) -> str:
            return (
                "data: " + json.dumps({**head, "object": "chat.completion.chunk", "choices": choices, **extra}) + "\n\n"
            )

        async def events():
            yield event([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
            for delta in scripted.deltas:
                yield event([{"index": 0, "delta": delta, "finish_reason": None}])
            yield event([{"index": 0, "delta": {}, "finish_reason": scripted.finish}])
            if (body.get("stream_options") or {}).get("include_usage"):
                yield event([], usage=scripted.usage)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


@pytest.fixture
def parts_upstream():
    up = PartsUpstream()
    with up.server:
        yield up
