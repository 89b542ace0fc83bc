"""What a container keeps between invocations, dropped between tests: the providers, the meter, the FAQ bots. These
reach into the modules' caches on purpose: production code has no call that forgets its clients."""

from __future__ import annotations

from airelay import usage
from airelay.faq import service
from airelay.openai_api import stored_items
from airelay.providers import registry
from airelay.providers.base import ChatModel


def forget_chat_models() -> None:
    for key in [key for key in registry._providers if key[0] is ChatModel]:
        del registry._providers[key]


def forget_classifiers(*, keep_local: bool = False) -> None:
    """`keep_local` keeps the in-process models (local/*), which hold no connections and take seconds to load."""
    kinds = (registry.TextClassifier, registry.ImageClassifier)
    for kind, model_id in list(registry._providers):
        if kind in kinds and not (keep_local and model_id.startswith("local/")):
            del registry._providers[(kind, model_id)]


def forget_meter() -> None:
    usage._meter = None
    stored_items._store = None  # the kept /v1/responses items: in the usage file locally


def forget_bots() -> None:
    service._bots.clear()


def install(model) -> None:
    """Serves `model.model_id` with this instance (a test's own model), in the registry's cache."""
    kind = next(kind for kind in registry.KINDS if isinstance(model, kind))
    registry._providers[(kind, model.model_id)] = model
