"""S3 ObjectCreated events for FAQ sources -> a rebuilt index at FAQ_INDEX_URL (the FaqIndexerFunction)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import uuid
from urllib.parse import unquote_plus

from .. import usage
from ..errors import AirelayError, BudgetExceeded
from ..observability import bind_request
from ..providers import registry
from ..providers.base import Embedder, Embeddings
from ..settings import Settings, get_settings
from .build import build_to
from .source import FORMATS, FaqSourceError

log = logging.getLogger("airelay.faq")
INDEXER_IDENTITY = "system:faq-indexer"

# One event loop for the container's life: the embedding model's async HTTP client (made once, kept in the registry)
# belongs to the loop it first ran on, so every event runs on that same loop.
_runner = asyncio.Runner()


class MeteredEmbedder(Embedder):
    """Each embedding call of an index build is held against today's budgets and leaves its usage row."""

    def __init__(self, inner: Embedder, caller: usage.Caller) -> None:
        super().__init__(inner.model_id)
        self.inner, self.caller = inner, caller
        self.provider, self.dimension = inner.provider, inner.dimension

    async def embed(self, texts: list[str]) -> Embeddings:
        bound = sum(len(text.encode()) + 1 for text in texts)  # a token is at least one UTF-8 byte
        async with usage.metered(self.caller, self.model_id, prompt_tokens=bound) as reading:
            embeddings = await self.inner.embed(texts)
            reading.usage = embeddings.usage
        return embeddings


def sources_in(event: dict, prefix: str) -> tuple[list[str], list[str]]:
    """(source URLs to build, keys skipped) from an S3 notification event."""
    wanted, skipped = [], []
    for record in event.get("Records", ()):
        if record.get("eventSource") != "aws:s3" or not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded, spaces as '+'
        if key.startswith(prefix) and any(key.lower().endswith(suffix) for suffix in FORMATS):
            wanted.append(f"s3://{bucket}/{key}")
        else:
            skipped.append(key)
    return wanted, skipped


async def rebuild(event: dict, settings: Settings, request_id: str = "") -> dict:
    request_id = request_id or uuid.uuid4().hex
    bind_request(request_id, INDEXER_IDENTITY)  # its log lines name the invocation and the indexer, as its usage rows
    urls, skipped = sources_in(event, settings.faq_source_prefix)
    built, rejected = [], []
    if urls:
        caller = usage.Caller(request_id, INDEXER_IDENTITY, "faq_indexer")
        embedder = MeteredEmbedder(await registry.embedder(settings.faq_embedding_model), caller)
        for url in urls:
            try:
                report = await build_to(url, settings.faq_index_url, embedder, float16=settings.faq_index_float16)
            except (FaqSourceError, BudgetExceeded) as exc:
                # Neither is helped by Lambda's retries of an async invocation that raises: say why and move on.
                log.error("FAQ source %s rejected: %s", url, exc)
                rejected.append({"source": url, "error": str(exc)})
                continue
            log.info(
                "FAQ index %s built from %s: %d entries, %d rows, %d bytes, %.2f s, %d embedding tokens",
                report.url,
                url,
                report.entries,
                report.rows,
                report.bytes,
                report.seconds,
                report.usage.prompt_tokens,
            )
            built.append(
                {
                    "source": url,
                    "index": report.url,
                    "entries": report.entries,
                    "rows": report.rows,
                    "model": report.model,
                    "embed_calls": report.embed_calls,
                    "embedding_tokens": report.usage.prompt_tokens,
                }
            )
    return {"built": built, "rejected": rejected, "skipped": skipped}


def prepare(settings: Settings) -> None:
    """At INIT: the embedding model made on the loop every event runs on, and an in-process one run once (its first
    run loads what it uses). What cannot be made yet is logged and left to the first event, which fails with it."""

    async def warm() -> None:
        codecs.lookup("idna")  # loaded by the first S3 request's host name otherwise, as for the API's functions
        embedder = await registry.embedder(settings.faq_embedding_model)
        if embedder.provider == "local":  # in process, no bill
            await embedder.embed(["Warm-up: how much is shipping?"])

    try:
        _runner.run(warm())
    except AirelayError as exc:
        log.warning("not ready at INIT: %s (%s)", exc.code, exc.message)


def handle_s3_event(event: dict, request_id: str = "") -> dict:
    return _runner.run(rebuild(event, get_settings(), request_id))
