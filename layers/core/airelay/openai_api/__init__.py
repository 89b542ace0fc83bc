"""The OpenAI wire format in and out: /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/models."""

from __future__ import annotations

from fastapi import FastAPI

from ..web import create_app
from . import chat, embeddings, models, responses
from .errors import error_body


def create_openai_app() -> FastAPI:
    """Errors in OpenAI's shape; API keys as bearer tokens, the way OpenAI's SDKs send them."""
    return create_app(
        chat.router, responses.router, embeddings.router, models.router, error_body=error_body, bearer_keys=True
    )
