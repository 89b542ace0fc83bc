"""Fakes that subclass the real ports, for what cannot run in a functional test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from airelay.errors import AirelayError
from airelay.providers.base import ChatModel, ChatRequest, Finished, Usage


class ScriptedChatModel(ChatModel):
    """Answers with fixed deltas; can fail before the first token or after some deltas."""

    provider = "fake"

    def __init__(self, model_id: str = "fake/scripted", deltas=("Hello", ", ", "world", "!"), *,
                 fail_before: AirelayError | None = None, fail_after: int | None = None,
                 error: AirelayError | None = None, usage: Usage | None = Usage(10, 4, 2), delay_s: float = 0.0):
        super().__init__(model_id)
        self.deltas = list(deltas)
        self.fail_before, self.fail_after, self.error = fail_before, fail_after, error
        self.usage, self.delay_s = usage, delay_s
        self.requests: list[ChatRequest] = []
        self.closed = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Finished]:
        self.requests.append(request)
        if self.fail_before:
            raise self.fail_before
        try:
            for i, delta in enumerate(self.deltas):
                if self.fail_after is not None and i == self.fail_after:
                    raise self.error
                if self.delay_s:
                    await anyio.sleep(self.delay_s)
                yield delta
            yield Finished("stop", self.usage)
        finally:
            self.closed += 1
