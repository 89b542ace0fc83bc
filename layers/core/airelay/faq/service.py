"""The FAQ bot of one container: the index kept warm, recent question vectors cached, one embedding per question."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import anyio
import numpy as np

from .. import usage
from ..errors import AirelayError, FaqIndexMissing, FaqIndexUnusable, NotConfigured, ProviderTimeout
from ..providers import registry
from ..settings import Settings
from ..tokens import estimate_input
from .fallback import answer_with_model, bot_config
from .index import FaqIndex, deserialize
from .store import open_object

log = logging.getLogger("airelay.faq")


class IndexHolder:
    """The index at one URL: loaded at first use, its version re-checked at most every `check_every_s` seconds.
    A new object replaces the index only if it loads, verifies and was built with the expected model; otherwise
    the previous good index stays in use (and the refused version is not downloaded again)."""

    def __init__(self, url: str, model_id: str, check_every_s: float, clock=time.monotonic) -> None:
        self.stored = open_object(url)
        self.model_id = model_id
        self.check_every_s = check_every_s
        self.clock = clock
        self.index: FaqIndex | None = None
        self.version: str | None = None
        self.refused: tuple[str, AirelayError] | None = None
        self.checked_at: float | None = None
        self.loads = 0
        self.load_seconds = 0.0
        self._lock = threading.Lock()

    def get(self) -> FaqIndex:
        """Blocking (file or S3 I/O): call it from a worker thread."""
        with self._lock:
            now = self.clock()
            if self.index is not None and self.checked_at is not None and now - self.checked_at < self.check_every_s:
                return self.index
            self.checked_at = now
            return self._refresh()

    def recheck(self) -> FaqIndex:
        """Checks the version now, however recently it was checked."""
        with self._lock:
            self.checked_at = self.clock()
            return self._refresh()

    def _refresh(self) -> FaqIndex:
        try:
            version = self.stored.version()
        except Exception:
            log.exception("FAQ index %s: the version check failed", self.stored.url)
            return self._keep(FaqIndexUnusable("The FAQ index could not be read; try again shortly."))
        if version is None:
            return self._keep(FaqIndexMissing())
        if version == self.version and self.index is not None:
            return self.index
        if self.refused and self.refused[0] == version:
            return self._keep(self.refused[1])
        started = time.perf_counter()
        try:
            data, version = self.stored.read()
            index = deserialize(data)
            index.require_model(self.model_id)
        except FileNotFoundError:
            return self._keep(FaqIndexMissing())
        except FaqIndexUnusable as exc:
            log.error("FAQ index %s (version %s) refused: %s", self.stored.url, version, exc.message)
            self.refused = (version, exc)
            return self._keep(exc)
        except Exception:
            log.exception("FAQ index %s: reading failed", self.stored.url)
            return self._keep(FaqIndexUnusable("The FAQ index could not be read; try again shortly."))
        self.index, self.version, self.refused = index, version, None
        self.loads += 1
        self.load_seconds = time.perf_counter() - started
        log.info(
            "FAQ index %s loaded: %d entries, %d rows, model %s, built %s, in %.3f s",
            self.stored.url,
            len(index.entries),
            index.rows,
            index.meta.model,
            index.meta.built_at,
            self.load_seconds,
        )
        return index

    def _keep(self, error: AirelayError) -> FaqIndex:
        if self.index is None:
            raise error
        log.warning("FAQ index %s: keeping version %s (%s)", self.stored.url, self.version, error.code)
        return self.index


class QuestionCache:
    """The most recent question vectors (LRU), so a repeated question costs no embedding call."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(question: str) -> str:
        return " ".join(question.split())

    def get(self, question: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(self.key(question))
            if vector is not None:
                self._items.move_to_end(self.key(question))
            return vector

    def put(self, question: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[self.key(question)] = vector
            self._items.move_to_end(self.key(question))
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass(slots=True)
class FaqReply:
    body: dict
    embedding_model: str


def threshold_for(model_id: str, settings: Settings) -> float:
    overrides = settings.faq_threshold_overrides
    if model_id in overrides:
        return overrides[model_id]
    table = bot_config()["thresholds"]
    if model_id not in table:
        raise NotConfigured(f"No FAQ match threshold is set for '{model_id[:80]}': add it to FAQ_THRESHOLDS.")
    return float(table[model_id])


class FaqBot:
    def __init__(self, settings: Settings, clock=time.monotonic) -> None:
        self.settings = settings
        self.model_id = settings.faq_embedding_model
        self.holder = IndexHolder(settings.faq_index_url, self.model_id, settings.faq_reload_check_s, clock)
        self.cache = QuestionCache(settings.faq_embed_cache_size)
        self.embed_calls = 0

    async def prepare(self) -> None:
        """What an answer needs, made now (at INIT): the embedder, the chat models of the fallback answer, the index;
        an in-process embedder runs once and the index matches its vector (first runs load what they use)."""
        embedder = await registry.embedder(self.model_id)
        await registry.chat_models(self.settings.fallback_chain(self.settings.chat_model), self.settings)
        index = await anyio.to_thread.run_sync(self.holder.get)
        if embedder.provider == "local":  # in process, no bill
            vector = (await embedder.embed(["Warm-up: how much is shipping?"])).vectors[0]
            index.match(np.asarray(vector, dtype=np.float32), 1)

    async def answer(self, question: str, top_k: int, caller: usage.Caller) -> FaqReply:
        """The matching FAQ, else the chat model's answer, else a handoff, all within one deadline: UPSTREAM_TIMEOUT_S
        from now for the question's embedding and the chat models together, so that the buffered FAQ function
        answers inside its Timeout and API Gateway's 29 s."""
        token = usage.answer_deadline.set(anyio.current_time() + self.settings.upstream_timeout_s)
        try:
            return await self.answer_by_deadline(question, top_k, caller)
        finally:
            usage.answer_deadline.reset(token)

    async def answer_by_deadline(self, question: str, top_k: int, caller: usage.Caller) -> FaqReply:
        threshold = threshold_for(self.model_id, self.settings)
        index = await anyio.to_thread.run_sync(self.holder.get)  # before embedding: no index, no cost
        vector = await self.embed(question, caller)
        matches = index.match(vector, top_k)
        confidence = round(matches[0].score, 4)
        if matches[0].score >= threshold:
            best = matches[0].entry
            body = {
                "source": "faq",
                "answer": best.answer,
                "confidence": confidence,
                "faq_id": best.id,
                "matched_question": best.question,
                "matches": [
                    {"id": m.entry.id, "question": m.entry.question, "score": round(m.score, 4)} for m in matches
                ],
            }
        else:
            body = await answer_with_model(question, matches, confidence, self.settings, caller)
        return FaqReply(body, self.model_id)

    async def embed(self, question: str, caller: usage.Caller) -> np.ndarray:
        """The question's vector: from the cache, or from exactly one metered embedding call, cut (504) at the
        answer's deadline if it has one."""
        vector = self.cache.get(question)
        if vector is not None:
            return vector
        embedder = await registry.embedder(self.model_id)
        if anyio.current_time() >= usage.answer_deadline.get():
            raise ProviderTimeout()
        async with usage.metered(caller, self.model_id, prompt_tokens=len(question.encode()) + 1) as reading:
            reading.if_cut = partial(estimate_input, [question])
            try:
                with anyio.fail_after(usage.answer_deadline.get() - anyio.current_time()):
                    embeddings = await embedder.embed([question])
            except TimeoutError:
                raise ProviderTimeout() from None
            reading.usage = embeddings.usage
        self.embed_calls += 1
        vector = np.asarray(embeddings.vectors[0], dtype=np.float32)
        self.cache.put(question, vector)
        return vector


_bots: dict[Settings, FaqBot] = {}


def bot_for(settings: Settings, clock=time.monotonic) -> FaqBot:
    """The container's bot for these settings, created at first use (its index checks timed by `clock`) and kept
    while the container is warm."""
    bot = _bots.get(settings)
    if bot is None:
        bot = _bots.setdefault(settings, FaqBot(settings, clock))
    return bot


def recheck_indexes() -> None:
    """Checks every kept bot's index against its store now, loading a newer one (after a SnapStart restore: the
    snapshot's index and its last check may be days old). A failed check keeps the index, as a request's would."""
    for bot in list(_bots.values()):
        try:
            bot.holder.recheck()
        except AirelayError as exc:
            log.warning("FAQ index %s: not usable after the restore (%s)", bot.holder.stored.url, exc.code)
