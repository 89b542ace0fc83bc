"""Reading a /v1 request body: strict JSON, then the route's pydantic model, with OpenAI's 400 on any problem."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from ..errors import MalformedRequest
from ..settings import Settings
from .errors import BadRequest, bad_body


async def read_body[M: BaseModel](request: Request, model: type[M]) -> M:
    try:
        data = from_json(await request.body(), allow_inf_nan=False)
    except ValueError:
        raise MalformedRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise bad_body(exc) from None


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
