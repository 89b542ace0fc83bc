"""Fakes that subclass the real ports, for what cannot run in a functional test."""

from __future__ import annotations

from airelay.providers.base import Embedder, Embeddings, Usage


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
