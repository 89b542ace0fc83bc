"""Model id -> provider instance: one keyed cache, filled at INIT by what each function's routes need (create_app)
or else at first use, and kept for the container's life."""

from __future__ import annotations

import contextlib
import logging
import platform
import sys

import anyio

from .. import aws
from ..errors import InvalidInput, NotConfigured, ProviderUnavailable
from ..settings import Settings, get_settings
from .base import ChatModel, Embedder, ImageClassifier, TextClassifier, split_model_id

log = logging.getLogger("airelay.providers")

Provider = ChatModel | Embedder | TextClassifier | ImageClassifier
KINDS = (ChatModel, Embedder, TextClassifier, ImageClassifier)

OPENAI_BASE_URL = "https://api.openai.com/v1"

_providers: dict[tuple[type, str], Provider] = {}  # (kind, model id) -> the container's instance
# Clients replaced by renew_connections() or renew_keys(), closed by the next chat_model() call, in the event loop: aiohttp
# reports a session collected unclosed as an error.
_retired: list = []
_keys_stale = False  # a SnapStart restore could not read the provider keys again (renew_keys)


async def _kept(kind: type, model_id: str, build) -> Provider:
    if _keys_stale:
        await anyio.to_thread.run_sync(renew_keys, get_settings())
    model = _providers.get((kind, model_id))
    if model is None:
        model = _providers.setdefault((kind, model_id), await build())
    return model


def reads_key(settings: Settings) -> bool:
    return bool(settings.openai_api_key_param and not settings.openai_api_key)


def reads_token(settings: Settings) -> bool:
    return bool(settings.hf_token_param and not settings.hf_token)


def reads_keys_from_ssm(settings: Settings) -> bool:
    return reads_key(settings) or reads_token(settings)


if reads_keys_from_ssm(get_settings()):
    aws.prepare("ssm")  # keys are read through Powertools Parameters: its provider and SSM client are made at INIT


async def chat_model(model_id: str, settings: Settings | None = None) -> ChatModel:
    while _retired:
        await _retired.pop().close()
    return await _kept(ChatModel, model_id, lambda: _build_chat_model(model_id, settings or get_settings()))


async def chat_models(model_ids, settings: Settings | None = None) -> list[ChatModel]:
    return [await chat_model(model_id, settings) for model_id in model_ids]


async def _build_chat_model(model_id: str, settings: Settings) -> ChatModel:
    provider, _ = split_model_id(model_id)
    if provider == "openai":
        key = settings.openai_api_key or await anyio.to_thread.run_sync(_key_from_ssm, settings)
        return _openai_compat(
            model_id,
            settings,
            settings.openai_base_url or None,
            key,
            organization=settings.openai_org_id,
            project=settings.openai_project_id,
        )
    if provider == "local":
        from .llama_cpp import LlamaCppChatModel

        return _openai_compat(model_id, settings, settings.local_model_base_url, "local", LlamaCppChatModel)
    raise InvalidInput(f"unknown chat provider '{provider[:40]}'")


def _openai_compat(
    model_id: str, settings: Settings, base_url: str | None, key: str, kind=None, organization="", project=""
) -> ChatModel:
    from .openai_compat import OpenAICompatChatModel
    from .upstream_http import UpstreamClient

    client = UpstreamClient(
        base_url or OPENAI_BASE_URL,
        key,
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        stream_read_s=settings.stream_idle_timeout_s,
        max_retries=settings.upstream_max_retries,
        organization=organization,
        project=project,
    )
    return (kind or OpenAICompatChatModel)(model_id, client)


def known_platform() -> None:
    """The OpenAI SDK names the platform in a header of each client's first request. The standard library answers
    by running `uname -p` in a subprocess and reading /etc/os-release the first time, and keeps the answers: asked
    here, at INIT, they are off the first request."""
    platform.platform()
    with contextlib.suppress(OSError):
        platform.freedesktop_os_release()


def _key_from_ssm(settings: Settings) -> str:
    if settings.openai_base_url and not settings.openai_api_key_param:
        return "unused"  # self-hosted OpenAI-compatible servers often need no key
    if not settings.openai_api_key_param:
        raise ProviderUnavailable("No key is configured for the model provider.")
    try:
        return aws.parameter(settings.openai_api_key_param)
    except Exception:
        raise ProviderUnavailable("The model provider's key could not be read.") from None


async def embedder(model_id: str) -> Embedder:
    return await _kept(Embedder, model_id, lambda: anyio.to_thread.run_sync(_build_embedder, model_id))


def _build_embedder(model_id: str) -> Embedder:
    if model_id == "local/use-multilingual":
        from .local_use import LocalUSEEmbedder

        return LocalUSEEmbedder(model_id)
    if model_id.startswith("openai/"):  # runs in a worker thread (see embedder()), so the SSM read may block
        from .openai_embed import OpenAIEmbedder

        settings = get_settings()
        known_platform()
        return OpenAIEmbedder.from_settings(model_id, settings, settings.openai_api_key or _key_from_ssm(settings))
    raise InvalidInput(f"unknown embedding model '{model_id[:80]}'")


async def text_classifier(model_id: str, settings: Settings | None = None) -> TextClassifier:
    """The sentiment provider for SENTIMENT_MODEL: local/use-multilingual-anchors, llm/<chat model id> or hf/<model>."""
    return await _kept(TextClassifier, model_id, lambda: _build_text_classifier(model_id, settings or get_settings()))


async def _build_text_classifier(model_id: str, settings: Settings) -> TextClassifier:
    provider, name = split_model_id(model_id)
    if model_id == "local/use-multilingual-anchors":
        from .local_sentiment import AnchorSentimentClassifier

        return await AnchorSentimentClassifier.create(model_id, await embedder("local/use-multilingual"))
    if provider == "llm":
        from .llm_sentiment import LLMSentimentClassifier

        return LLMSentimentClassifier(model_id, await chat_model(name, settings), settings)
    if provider == "hf":
        from .huggingface import HFTextClassifier

        return HFTextClassifier(model_id, await _hf_client(settings))
    raise NotConfigured(f"Unknown sentiment model '{model_id[:80]}' (SENTIMENT_MODEL).")


async def image_classifier(model_id: str, settings: Settings | None = None) -> ImageClassifier:
    """The image classifier for IMAGE_MODEL: local/efficientnet-lite0 or hf/<model>."""
    return await _kept(ImageClassifier, model_id, lambda: _build_image_classifier(model_id, settings or get_settings()))


async def _build_image_classifier(model_id: str, settings: Settings) -> ImageClassifier:
    provider, _ = split_model_id(model_id)
    if model_id == "local/efficientnet-lite0":
        from .local_efficientnet import LocalEfficientNet

        return await anyio.to_thread.run_sync(LocalEfficientNet, model_id, settings.image_model_path)
    if provider == "hf":
        from .huggingface import HFImageClassifier

        return HFImageClassifier(model_id, await _hf_client(settings))
    raise NotConfigured(f"Unknown image model '{model_id[:80]}' (IMAGE_MODEL).")


async def _hf_client(settings: Settings):
    from .huggingface import HuggingFaceClient

    token = settings.hf_token or await anyio.to_thread.run_sync(_hf_token_from_ssm, settings)
    return HuggingFaceClient(settings.hf_base_url, token, settings)


def _hf_token_from_ssm(settings: Settings) -> str:
    if not settings.hf_token_param:
        raise ProviderUnavailable("No Hugging Face token is configured (HF_TOKEN_PARAM).")
    try:
        return aws.parameter(settings.hf_token_param)
    except Exception:
        raise ProviderUnavailable("The Hugging Face token could not be read.") from None


def renew_connections() -> None:
    """Gives every kept provider that calls out a new HTTP client, its pool empty, with the same key and settings
    (after a SnapStart restore, connections pooled before the snapshot lead nowhere). In-process models stay."""
    openai = sys.modules.get("openai")  # no provider made an OpenAI client if the SDK was never imported
    for model in list(_providers.values()):
        client = getattr(model, "client", None)
        if hasattr(model, "renew"):  # a chat model (upstream_http)
            model.renew()
            _retired.append(client)
        elif openai is not None and isinstance(client, openai.AsyncOpenAI):
            model.client = client.copy(http_client=openai.DefaultAsyncHttpx2Client())
            _retired.append(client)
        elif hasattr(client, "reconnect"):  # the Hugging Face client, shared by both classifiers
            client.reconnect()


def mark_keys_stale() -> None:
    """The kept providers' keys are the snapshot's until renew_keys reads them: meanwhile, a request asking for a
    provider reads them first."""
    global _keys_stale
    _keys_stale = True


def renew_keys(settings: Settings) -> bool:
    """Gives the kept providers whose key was read from SSM what the parameter holds now, in place (a classifier or a
    FAQ bot built on one keeps it): after a SnapStart restore, the snapshot's key may be days old, rotated and revoked
    since. If it cannot be read, the next ask of a provider tries again. Returns whether the keys it needed were read."""
    global _keys_stale
    kept = list(_providers.values())
    # Only the keys a kept provider holds: a parameter nothing here uses may not exist at all (HF_TOKEN_PARAM's default)
    uses_key = any(split_model_id(model.model_id)[0] == "openai" for model in kept)
    uses_token = any(hasattr(getattr(model, "client", None), "reconnect") for model in kept)
    try:
        api_key = _key_from_ssm(settings) if uses_key and reads_key(settings) else None
        token = _hf_token_from_ssm(settings) if uses_token and reads_token(settings) else None
    except ProviderUnavailable:
        _keys_stale = True
        log.warning("provider keys could not be read again after a restore: tried again at the next request")
        return False
    _keys_stale = False
    for model in kept:
        client = getattr(model, "client", None)
        if api_key and split_model_id(model.model_id)[0] == "openai":
            if hasattr(model, "renew"):
                model.renew(api_key)
            else:  # its own HTTP client: the retired one is closed, with whatever shares its pool
                import openai

                model.client = client.copy(api_key=api_key, http_client=openai.DefaultAsyncHttpx2Client())
            _retired.append(client)
        elif token and hasattr(client, "reconnect"):
            client.reconnect(token)
    return True
