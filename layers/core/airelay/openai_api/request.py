"""Reading a /v1 request body: strict JSON, then the route's pydantic model, with OpenAI's 400 on any problem."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from ..errors import MalformedRequest
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
