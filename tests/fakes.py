"""Fakes that subclass the real ports, for what cannot run in a functional test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio

from airelay.errors import AirelayError
from airelay.providers.base import ChatModel, ChatRequest, Embedder, Embeddings, Finished, Usage

DEFAULT_USAGE = Usage(10, 4, 2)


class ScriptedChatModel(ChatModel):
    """Answers with fixed deltas; can fail before the first token or after some deltas."""

    provider = "fake"

    def __init__(
        self,
        model_id: str = "fake/scripted",
        deltas=("Hello", ", ", "world", "!"),
        *,
        fail_before: AirelayError | None = None,
        fail_after: int | None = None,
        error: AirelayError | None = None,
        usage: Usage | None = DEFAULT_USAGE,
        delay_s: float = 0.0,
    ):
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


class KeyedEmbedder(Embedder):
    """Deterministic vectors: the one given for a text, else a pseudo-random unit vector seeded by the text.
    Counts its calls and texts, so tests can check how often a real embedder would have been paid."""

    provider = "fake"

    def __init__(
        self, model_id: str = "fake/keyed", dimension: int = 16, vectors: dict | None = None, tokens_per_text: int = 0
    ):
        super().__init__(model_id)
        self.dimension = dimension
        self.vectors = dict(vectors or {})
        self.tokens_per_text = tokens_per_text
        self.calls = 0
        self.texts: list[str] = []

    def vector(self, text: str):
        import hashlib

        import numpy as np

        if text in self.vectors:
            v = np.asarray(self.vectors[text], dtype=np.float32)
        else:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    async def embed(self, texts: list[str]) -> Embeddings:
        import numpy as np

        self.calls += 1
        self.texts.extend(texts)
        vectors = np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        return Embeddings(vectors, Usage(prompt_tokens=self.tokens_per_text * len(texts)))
