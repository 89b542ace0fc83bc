"""GET /v1/models: the chat and embedding models this caller may use, in OpenAI's list shape."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..settings import get_settings
from . import openapi

router = APIRouter()
CREATED = 1_735_689_600  # OpenAI lists a creation time; airelay's models have none of their own (2025-01-01)


def model_ids() -> list[str]:
    """What a request may name: the allowed chat models (default first), then the embedding models."""
    settings = get_settings()
    return [*settings.chat_models, *(m for m in settings.embedding_models if m not in settings.chat_models)]


@router.get("/v1/models", responses=openapi.responses(openapi.ModelList, 401))
async def list_models() -> JSONResponse:
    data = [{"id": m, "object": "model", "created": CREATED, "owned_by": m.split("/", 1)[0]} for m in model_ids()]
    return JSONResponse({"object": "list", "data": data})
