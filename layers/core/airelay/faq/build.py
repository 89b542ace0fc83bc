"""Builds an FAQ index: every question and alternate embedded once, in batches, into one stored object."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..providers.base import Embedder, Usage
from .index import FaqIndex, IndexedEntry, serialize
from .source import FaqSource, parse_source
from .store import open_object

BATCH_ROWS = {"openai": 512}  # rows per embed() call by provider; the OpenAI embedder splits further by its limits
DEFAULT_BATCH_ROWS = 64

Progress = Callable[[int, int], None]  # (rows done, rows in total)


@dataclass
class BuildReport:
    url: str
    model: str
    entries: int
    rows: int
    dimension: int
    dtype: str
    bytes: int
    seconds: float
    embed_calls: int
    usage: Usage = field(default_factory=Usage)
    source_sha256: str = ""
    superseded: bool = False  # the source changed while it was built: nothing was written


async def build_index(
    source: FaqSource, embedder: Embedder, *, batch_rows: int | None = None, progress: Progress | None = None
) -> tuple[FaqIndex, Usage, int]:
    """The index of `source` with `embedder`; returns it with the embedding usage and the number of embed calls."""
    texts: list[str] = []
    row_entries: list[int] = []
    for number, entry in enumerate(source.entries):
        texts.extend(entry.texts)
        row_entries.extend([number] * len(entry.texts))
    batch = batch_rows or BATCH_ROWS.get(embedder.provider, DEFAULT_BATCH_ROWS)
    usage, parts, calls = Usage(), [], 0
    if progress:
        progress(0, len(texts))
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        embeddings = await embedder.embed(chunk)
        calls += 1
        vectors = np.asarray(embeddings.vectors, dtype=np.float32)
        if vectors.shape[0] != len(chunk):
            raise ValueError(f"the embedder returned {vectors.shape[0]} vectors for {len(chunk)} texts")
        parts.append(vectors)
        usage.prompt_tokens += embeddings.usage.prompt_tokens
        if progress:
            progress(start + len(chunk), len(texts))
    entries = tuple(IndexedEntry(e.id, e.question, e.answer, e.tags) for e in source.entries)
    index = FaqIndex.create(embedder.model_id, entries, row_entries, np.vstack(parts), source.checksum)
    return index, usage, calls


@dataclass(frozen=True)
class StoredSource:
    """A checked source as read from its store, with the version (ETag, or mtime and size) it had then."""

    url: str
    source: FaqSource
    version: str

    def still_current(self) -> bool:
        """False once the stored object was replaced or deleted: a build from this read is out of date."""
        return open_object(self.url).version() == self.version


def read_source(url: str) -> StoredSource:
    """Read and check a source file from a path, `file://` or `s3://` URL (the extension picks the format)."""
    stored = open_object(url)
    data, version = stored.read()
    return StoredSource(stored.url, parse_source(data, stored.name), version)


async def build_to(
    source_url: str,
    to_url: str,
    embedder: Embedder,
    *,
    float16: bool = False,
    batch_rows: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    stored = read_source(source_url)
    return await build_from(stored, to_url, embedder, float16=float16, batch_rows=batch_rows, progress=progress)


async def build_from(
    stored: StoredSource,
    to_url: str,
    embedder: Embedder,
    *,
    float16: bool = False,
    batch_rows: int | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Builds the index of a source already read and writes it to `to_url`, unless the source was replaced while it
    was being built (`superseded`: the build of the newer one writes it, whichever of them finishes last)."""
    started = time.perf_counter()
    index, usage, calls = await build_index(stored.source, embedder, batch_rows=batch_rows, progress=progress)
    dtype = "float16" if float16 else "float32"
    target = open_object(to_url)
    superseded = not stored.still_current()
    data = b""
    if not superseded:
        data = serialize(index, dtype)
        target.write(data)
    return BuildReport(
        target.url,
        index.meta.model,
        len(index.entries),
        index.rows,
        index.meta.dimension,
        dtype,
        len(data),
        time.perf_counter() - started,
        calls,
        usage,
        stored.source.checksum,
        superseded,
    )
