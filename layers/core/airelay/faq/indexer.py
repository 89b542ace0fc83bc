"""S3 ObjectCreated events for FAQ sources -> a rebuilt index at FAQ_INDEX_URL (the FaqIndexerFunction)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import uuid
from urllib.parse import unquote_plus

from .. import usage
from ..errors import AirelayError, BudgetExceeded, RateLimitExceeded
from ..observability import bind_request
from ..providers import registry
from ..providers.base import Embedder, Embeddings, Usage
from ..settings import Settings, get_settings
from ..usage.reported import billable
from .build import BuildReport, build_from, read_source
from .source import FORMATS, FaqSource, FaqSourceError

log = logging.getLogger("airelay.faq")
INDEXER_IDENTITY = "system:faq-indexer"

# One event loop for the container's life: the embedding model's async HTTP client (made once, kept in the registry)
# belongs to the loop it first ran on, so every event runs on that same loop.
_runner = asyncio.Runner()


class TallyingEmbedder(Embedder):
    """Passes an index build's embedding calls to `inner` and adds what each one used to `reading`: that of the one
    metered block holding the whole build, so that what was spent is billed even when a later call fails."""

    def __init__(self, inner: Embedder, reading: usage.Reading) -> None:
        super().__init__(inner.model_id)
        self.inner, self.reading = inner, reading
        self.provider, self.dimension = inner.provider, inner.dimension

    async def embed(self, texts: list[str]) -> Embeddings:
        try:
            embeddings = await self.inner.embed(texts)
        except AirelayError as exc:
            self.add(exc.usage)
            raise
        self.add(embeddings.usage)
        return embeddings

    def add(self, used: Usage | None) -> None:
        if used is None:
            return
        total, used = self.reading.usage or Usage(), billable(used)
        self.reading.usage = Usage(
            total.prompt_tokens + used.prompt_tokens,
            total.completion_tokens + used.completion_tokens,
            total.cached_tokens + used.cached_tokens,
            total.estimated or used.estimated,
        )


def worst_case_tokens(source: FaqSource) -> int:
    """The most tokens embedding every row of `source` can take: one per UTF-8 byte, and one more per text."""
    return sum(len(text.encode()) + 1 for entry in source.entries for text in entry.texts)


async def build_metered(url: str, settings: Settings, embedder: Embedder, caller: usage.Caller) -> BuildReport:
    """Reads the source, then holds the whole build's worst case against today's budgets at once, so that a build the
    budgets cannot pay is refused before its first embedding call; settles what all its calls used."""
    stored = read_source(url)
    async with usage.metered(caller, embedder.model_id, prompt_tokens=worst_case_tokens(stored.source)) as reading:
        tallying = TallyingEmbedder(embedder, reading)
        return await build_from(stored, settings.faq_index_url, tallying, float16=settings.faq_index_float16)


def retrying_cannot_help(exc: Exception) -> bool:
    """The source itself, a source deleted before it was read, today's budgets, or a build larger than any minute's
    tokens: Lambda's retries of the event would fail the same way."""
    if isinstance(exc, RateLimitExceeded):
        return exc.retry_after is None
    return isinstance(exc, (FaqSourceError, FileNotFoundError, BudgetExceeded))


def why(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the source no longer exists (deleted before the indexer read it)"
    return str(exc)


def summary(url: str, report: BuildReport) -> dict:
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
    return {
        "source": url,
        "index": report.url,
        "entries": report.entries,
        "rows": report.rows,
        "model": report.model,
        "embed_calls": report.embed_calls,
        "embedding_tokens": report.usage.prompt_tokens,
    }


def sources_in(event: dict, prefix: str) -> tuple[list[tuple[str, str]], list[str]]:
    """((source URL, key) pairs to build, keys skipped) from an S3 notification event."""
    wanted, skipped = [], []
    for record in event.get("Records", ()):
        if record.get("eventSource") != "aws:s3" or not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded, spaces as '+'
        if key.startswith(prefix) and any(key.lower().endswith(suffix) for suffix in FORMATS):
            wanted.append((f"s3://{bucket}/{key}", key))
        else:
            skipped.append(key)
    return wanted, skipped


async def rebuild(event: dict, settings: Settings, request_id: str = "") -> dict:
    """Builds each source of the event in turn; one that fails never stops the others. A source that cannot be used
    is rejected with the reason; a failure that a retry may mend (an upstream or the ledger unavailable) is raised
    once every source was tried, so that Lambda retries the event."""
    request_id = request_id or uuid.uuid4().hex
    bind_request(request_id, INDEXER_IDENTITY)  # its log lines name the invocation and the indexer, as its usage rows
    sources, skipped = sources_in(event, settings.faq_source_prefix)
    built, rejected, failures = [], [], []
    if sources:
        caller = usage.Caller(request_id, INDEXER_IDENTITY, "faq_indexer")
        embedder = await registry.embedder(settings.faq_embedding_model)
        for url, key in sources:
            try:
                report = await build_metered(url, settings, embedder, caller)
            except Exception as exc:
                if not retrying_cannot_help(exc):
                    log.exception("FAQ index build from %s failed; the event will be retried", url)
                    failures.append(exc)
                    continue
                log.error("FAQ source %s rejected: %s", url, why(exc))
                rejected.append({"source": url, "error": why(exc)})
                continue
            if report.superseded:
                log.info("FAQ source %s was replaced or deleted while it was built: not written", url)
                skipped.append(key)
                continue
            built.append(summary(url, report))
    if failures:
        raise failures[0]
    return {"built": built, "rejected": rejected, "skipped": skipped}


def prepare(settings: Settings) -> None:
    """At INIT: the embedding model made on the loop every event runs on, and an in-process one run once (its first
    run loads what it uses). What cannot be made yet is logged and left to the first event, which fails with it."""

    async def warm() -> None:
        codecs.lookup("idna")  # loaded by the first S3 request's host name otherwise, as for the API's functions
        codecs.lookup("utf-8-sig")  # and by the first source's decoding
        embedder = await registry.embedder(settings.faq_embedding_model)
        if embedder.provider == "local":  # in process, no bill
            await embedder.embed(["Warm-up: how much is shipping?"])
        usage.get_meter(settings)  # its prices checked and its ledger client made, as create_app's open_meter does

    try:
        _runner.run(warm())
    except AirelayError as exc:
        log.warning("not ready at INIT: %s (%s)", exc.code, exc.message)


def handle_s3_event(event: dict, request_id: str = "") -> dict:
    return _runner.run(rebuild(event, get_settings(), request_id))
