"""Model id -> provider instance, created once per container at first use and reused."""

from __future__ import annotations

import anyio

from ..errors import InvalidInput, ProviderUnavailable
from ..settings import Settings, get_settings
from .base import ChatModel, Embedder, split_model_id

_chat_models: dict[str, ChatModel] = {}
_embedders: dict[str, Embedder] = {}


async def chat_model(model_id: str, settings: Settings | None = None) -> ChatModel:
    model = _chat_models.get(model_id)
    if model is None:
        model = await _build_chat_model(model_id, settings or get_settings())
        _chat_models[model_id] = model
    return model


async def _build_chat_model(model_id: str, settings: Settings) -> ChatModel:
    provider, _ = split_model_id(model_id)
    if provider == "openai":
        key = settings.openai_api_key or await anyio.to_thread.run_sync(_key_from_ssm, settings)
        return _openai_compat(model_id, settings, settings.openai_base_url or None, key)
    if provider == "local":
        return _openai_compat(model_id, settings, settings.local_model_base_url, "local")
    raise InvalidInput(f"unknown chat provider '{provider[:40]}'")


def _openai_compat(model_id: str, settings: Settings, base_url: str | None, key: str) -> ChatModel:
    import httpx2
    import openai

    from .openai_compat import OpenAICompatChatModel

    client = openai.AsyncOpenAI(
        api_key=key,
        base_url=base_url,
        timeout=httpx2.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s),
        max_retries=settings.upstream_max_retries,
    )
    return OpenAICompatChatModel(model_id, client, settings)


def _key_from_ssm(settings: Settings) -> str:
    if settings.openai_base_url and not settings.openai_api_key_param:
        return "unused"  # self-hosted OpenAI-compatible servers often need no key
    if not settings.openai_api_key_param:
        raise ProviderUnavailable("No key is configured for the model provider.")
    from aws_lambda_powertools.utilities import parameters

    try:
        return parameters.get_parameter(settings.openai_api_key_param, decrypt=True, max_age=300)
    except Exception:
        raise ProviderUnavailable("The model provider's key could not be read.") from None


async def embedder(model_id: str) -> Embedder:
    model = _embedders.get(model_id)
    if model is None:
        model = await anyio.to_thread.run_sync(_build_embedder, model_id)
        _embedders[model_id] = model
    return model


def _build_embedder(model_id: str) -> Embedder:
    if model_id == "local/use-multilingual":
        from .local_use import LocalUSEEmbedder

        return LocalUSEEmbedder(model_id)
    raise InvalidInput(f"unknown embedding model '{model_id[:80]}'")


def forget_chat_models() -> None:
    """Drop cached providers (tests, or after a settings change)."""
    _chat_models.clear()


def install(model: ChatModel | Embedder) -> None:
    """Serve `model.model_id` with this instance (tests, or an app that embeds airelay with its own provider)."""
    (_embedders if isinstance(model, Embedder) else _chat_models)[model.model_id] = model
