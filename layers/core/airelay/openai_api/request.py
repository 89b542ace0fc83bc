"""The chat model a /v1 request names, or OpenAI's 404."""

from __future__ import annotations

from ..settings import Settings
from .errors import BadRequest


class ModelNotFound(BadRequest):
    status = 404
    code = "model_not_found"


def resolve_model(requested: str, settings: Settings) -> str:
    """A chat model this server allows, by its full id or its name alone."""
    for model_id in settings.chat_models:
        if requested in (model_id, model_id.split("/", 1)[-1]):
            return model_id
    raise ModelNotFound(
        f"The model '{requested[:80]}' does not exist or you do not have access to it; "
        f"choose one of: {', '.join(settings.chat_models)}",
        param="model",
    )
