"""Below the match threshold: the chat model answers as the customer_support persona, or a human takes over."""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources

import anyio

from .. import relay, usage
from ..errors import AirelayError
from ..personas import system_prompt
from ..providers.base import ChatRequest
from ..providers.registry import chat_models
from ..settings import Settings
from .index import Match

log = logging.getLogger("airelay.faq")

PERSONA = "customer_support"


@cache
def bot_config() -> dict:
    """data/faq/bot.json: the handoff answer, the per-model match thresholds, the context given to the model."""
    return json.loads(resources.files("airelay").joinpath("data/faq/bot.json").read_text("utf-8"))


def handoff(confidence: float) -> dict:
    return {"source": "handoff", "answer": bot_config()["handoff_answer"], "confidence": confidence}


def chat_request(question: str, matches: list[Match], settings: Settings) -> ChatRequest:
    config = bot_config()
    context = "\n".join(f"- Q: {m.entry.question}\n  A: {m.entry.answer}" for m in matches[: config["context_entries"]])
    system = f"{system_prompt(PERSONA)}\n\n{config['context_intro']}\n{context}" if context else system_prompt(PERSONA)
    return ChatRequest(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
        max_tokens=settings.default_max_tokens,
    )


async def answer_with_model(
    question: str, matches: list[Match], confidence: float, settings: Settings, caller: usage.Caller
) -> dict:
    """The chat model's answer; any provider failure (unreachable, timeout, budget) hands off to a human. The chat
    models share one deadline (relay.complete_any): the FAQ answer's, else UPSTREAM_TIMEOUT_S; past it, a handoff."""
    if anyio.current_time() >= usage.answer_deadline.get():
        log.warning("FAQ fallback: no time is left for the chat model; handing off")
        return handoff(confidence)
    try:
        models = await chat_models(settings.fallback_chain(settings.chat_model), settings)
        answer = await relay.complete_any(models, chat_request(question, matches, settings), settings, caller)
    except AirelayError as exc:
        log.warning("FAQ fallback: chat model %s failed (%s); handing off", settings.chat_model, exc.code)
        return handoff(confidence)
    text = answer.text.strip()
    if not text:
        log.warning("FAQ fallback: chat model %s answered nothing; handing off", settings.chat_model)
        return handoff(confidence)
    return {"source": "model", "answer": text, "confidence": confidence}
