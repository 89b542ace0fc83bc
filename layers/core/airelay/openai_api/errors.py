"""Errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, at OpenAI's statuses, so OpenAI's SDKs
raise their own typed errors (BadRequestError, AuthenticationError, RateLimitError, ...) and retry as they would."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import AirelayError, BudgetExceeded, InvalidInput, MalformedRequest, RateLimitExceeded

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",  # OpenAI's type for model_not_found and an unknown route
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class BadRequest(InvalidInput):
    """OpenAI's 400: a parameter is missing, malformed or not supported here; `param` names it."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        if code:
            self.code = code


class Unsupported(BadRequest):
    code = "unsupported_parameter"


def error_body(error: AirelayError) -> dict:
    kind = "insufficient_quota" if isinstance(error, BudgetExceeded) else TYPES.get(error.status, "api_error")
    message = error.message
    if isinstance(error, RateLimitExceeded):  # as OpenAI names its own: type "requests" or "tokens", with the figures
        kind = "requests" if error.rate == "requests_per_minute" else "tokens"
        when = f"; try again in {error.retry_after} s" if error.retry_after is not None else ""
        message = f"{message} (limit {int(error.limit)}, used {int(error.used)}{when})"
    return {
        "error": {
            "message": message,
            "type": kind,
            "param": getattr(error, "param", None),
            "code": error.code,
        }
    }


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """The /v1 app's answer when FastAPI cannot read a route's body into its model: OpenAI's 400."""
    error = bad_body(exc.errors(), exc.body)
    return JSONResponse(error_body(error), status_code=error.status)


def bad_body(problems: Sequence[dict], body: object = None) -> InvalidInput:
    """The first problem pydantic found, as OpenAI words it: which parameter, what is wrong (never the value; pydantic's
    message may quote a union's tag, so it is cut like the parameter's path)."""
    if any(p.get("type") == "json_invalid" for p in problems):
        return MalformedRequest("We could not parse the JSON body of your request.")
    problem = max(problems, key=lambda p: len(p.get("loc", ())))  # in a union, the member that got furthest
    where = problem.get("loc", ())[1:]  # after "body"
    if not where:
        return BadRequest("The request body must be a JSON object.")
    param = param_path(where, body)[:80]  # a field's name is the client's text: cut like any echo
    if problem.get("type") == "extra_forbidden":
        return Unsupported(f"Unrecognized request argument supplied: {param}", param=param)
    if problem.get("type") == "missing":
        return BadRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    return BadRequest(f"Invalid value for '{param}': {problem.get('msg', 'invalid')[:200]}.", param=param)


def param_path(where: Sequence, body: object) -> str:
    """The parameter's path in the request as sent: without the union members pydantic names in an error's location,
    a type (`str`, `MessageItem`) or, right after a list index, the item's own `role` or `type` (its tag)."""
    parts: list[str] = []
    node, after_index = body, False
    for part in where:
        tag = after_index and isinstance(node, dict) and part in (node.get("role"), node.get("type"))
        after_index = isinstance(part, int)
        if tag or is_union_tag(part):
            continue
        parts.append(str(part))
        node = child(node, part)
    return ".".join(parts)


def child(node: object, part: object) -> object:
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def is_union_tag(part: object) -> bool:
    """pydantic names the member of a union in the error's location (`str`, `list[...]`, `MessageItem`): not a
    parameter."""
    return isinstance(part, str) and ("[" in part or part[:1].isupper() or part in ("str", "int", "float", "bool"))
