"""S3 ObjectCreated events for FAQ sources -> a rebuilt index at FAQ_INDEX_URL (the FaqIndexerFunction)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote_plus

from ..providers import registry
from ..settings import Settings, get_settings
from .build import build_to
from .source import FORMATS, FaqSourceError

log = logging.getLogger("airelay.faq")


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


async def rebuild(event: dict, settings: Settings) -> dict:
    urls, skipped = sources_in(event, settings.faq_source_prefix)
    built, rejected = [], []
    if urls:
        embedder = await registry.embedder(settings.faq_embedding_model)
        for url in urls:
            try:
                report = await build_to(url, settings.faq_index_url, embedder, float16=settings.faq_index_float16)
            except FaqSourceError as exc:
                # A bad file is not retried (Lambda retries async invocations that raise): say why and move on.
                log.error("FAQ source %s rejected: %s", url, exc)
                rejected.append({"source": url, "error": str(exc)})
                continue
            log.info("FAQ index %s built from %s: %d entries, %d rows, %d bytes, %.2f s, %d embedding tokens",
                     report.url, url, report.entries, report.rows, report.bytes, report.seconds,
                     report.usage.prompt_tokens)
            built.append({"source": url, "index": report.url, "entries": report.entries, "rows": report.rows,
                          "model": report.model, "embedding_tokens": report.usage.prompt_tokens})
    return {"built": built, "rejected": rejected, "skipped": skipped}


def handle_s3_event(event: dict) -> dict:
    return asyncio.run(rebuild(event, get_settings()))
