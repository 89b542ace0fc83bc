"""create_app(*routers): the one way every function builds its ASGI app."""

from __future__ import annotations

import asyncio
import codecs
import logging
import math
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic_core import from_json
from starlette.exceptions import HTTPException

from . import aws, usage
from .errors import AirelayError, MalformedRequest, NotFound, own_body
from .middleware import Cors, RequestGate, gate_for
from .observability import configure as configure_observability
from .settings import Settings, get_settings
from .usage import Caller

log = logging.getLogger("airelay")


def create_app(
    *routers: APIRouter,
    settings: Settings | None = None,
    error_body: Callable[[AirelayError], dict] = own_body,
    bearer_keys: bool = False,
) -> FastAPI:
    """The function's app with everything a request needs made now, at INIT: the settings checked, the meter and its
    ledger client, what each router's `at_init` builders make (providers, models, the FAQ index). Without `settings`,
    the app follows get_settings() (tests and the local API change them between runs). `error_body` shapes every
    error the app answers; with `bearer_keys`, API keys come as `Authorization: Bearer` (OpenAI's SDKs) instead of
    x-api-key."""
    ready = settings or get_settings()
    configure_observability(ready)
    builders = [open_meter, read_secrets, *(build for router in routers for build in getattr(router, "builders", ()))]
    prepare(ready, builders)
    app = FastAPI(title="airelay", docs_url=None, redoc_url=None, separate_input_output_schemas=False)
    app.state.error_body = error_body
    for router in routers:
        app.include_router(router)
    app.add_api_route("/api/health", health, methods=["GET"], include_in_schema=False, response_model=None)
    app.add_exception_handler(AirelayError, airelay_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    for middleware in (RequestGate, Cors):  # the last one added is the outermost
        app.add_middleware(middleware, settings=settings, error_body=error_body, bearer_keys=bearer_keys)
    gate_for(ready, bearer_keys)  # the middlewares' key and sign-in checks
    app.openapi()  # FastAPI builds each included route's handler, validators and serializers while writing it
    return app


class StrictJSONRequest(Request):
    """A request whose JSON body must be strict UTF-8 JSON: no NaN or Infinity, no number too large for a float, no
    lone surrogates, nested at most 200 levels (pydantic's parser; Python's json module would recurse until it fails).
    Anything else is a 400."""

    async def json(self):
        if not hasattr(self, "_json"):
            try:
                body = from_json(await self.body(), allow_inf_nan=False)
            except ValueError:
                raise MalformedRequest() from None
            where = infinite_at(body)
            if where is not None:
                raise NumberTooLarge(where)
            self._json = body
        return self._json


class NumberTooLarge(MalformedRequest):
    """A number JSON can write but no float can hold: the parser reads 1e400 as infinity. `param` is where it is."""

    def __init__(self, where: list) -> None:
        self.param = ".".join(map(str, where))[:80] or None
        super().__init__(f"The number at '{self.param or 'body'}' is out of range.")


def infinite_at(value: object) -> list | None:
    """The path to the first infinite number in a parsed JSON value, if it holds one."""
    if isinstance(value, float):
        return None if math.isfinite(value) else []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = infinite_at(item)
        if found is not None:
            return [key, *found]
    return None


class StrictJSONRoute(APIRoute):
    """The route class of every router: FastAPI reads and validates the body, through StrictJSONRequest.json()."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict(request: Request):
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


class Router(APIRouter):
    """Every function's router: strict JSON bodies, and `at_init` for what its routes need made at INIT. Each such
    builder is also the FastAPI dependency through which the routes get what it made."""

    def __init__(self) -> None:
        super().__init__(route_class=StrictJSONRoute)
        self.builders: list[Callable[[Settings], Awaitable[object]]] = []

    def at_init(self, build: Callable[[Settings], Awaitable[object]]):
        self.builders.append(build)
        return build


def api_router() -> Router:
    return Router()


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def open_meter(settings: Settings) -> usage.Meter:
    """Every function behind the API meters or reads usage: the meter, its prices checked, and its ledger client."""
    return usage.get_meter(settings)


async def read_secrets(settings: Settings) -> None:
    """The secrets requests check tokens with, where they are SSM parameters (VISITOR_TOKEN_SECRET_PARAM,
    TOOL_PROOF_SECRET_PARAM): read now, and again by each SnapStart restore (snapstart.after_restore)."""
    names = aws.secret_names(settings)
    if names:
        await anyio.to_thread.run_sync(aws.read_ahead, *names)


def prepare(settings: Settings, builders: list[Callable[[Settings], Awaitable[object]]]) -> None:
    """Runs the routers' builders at INIT, to completion, on an event loop of their own (Lambda's INIT has none, and
    uvicorn imports the app from inside its running loop). What cannot be made yet (a model file missing, a key not
    readable) is logged and left to the first request, which answers with that error."""

    async def build_all() -> None:
        await anyio.to_thread.run_sync(codecs.lookup, "idna")  # what the first request's thread hop and connection load
        for build in builders:
            try:
                await build(settings)
            except AirelayError as exc:
                log.warning("not ready at INIT: %s (%s)", exc.code, exc.message)

    with ThreadPoolExecutor(1, "airelay-init") as pool:
        pool.submit(asyncio.run, build_all()).result()


async def health() -> dict:
    return {"status": "ok"}


def error_response(error: AirelayError, error_body: Callable[[AirelayError], dict] = own_body) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=error.status, headers=error.headers())


async def airelay_error(request: Request, exc: AirelayError) -> JSONResponse:
    return error_response(exc, request.app.state.error_body)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(MalformedRequest(), request.app.state.error_body)
    return JSONResponse({"error": {"code": "invalid_input", "message": describe(problems)}}, status_code=422)


def describe(problems: list[dict]) -> str:
    """A short, safe summary of pydantic errors: field paths and messages, never the input values. A path is the
    client's text too (a field's name), so it is cut like any echo; so is a message, which may quote a union's tag."""
    parts = []
    for problem in problems[:3]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where[:80]}: {problem.get('msg', 'invalid')[:200]}")
    return "; ".join(parts)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, AirelayError):  # FastAPI wraps errors raised while it reads the body
        return error_response(exc.__cause__, request.app.state.error_body)
    if exc.status_code == 404:
        return error_response(NotFound(), request.app.state.error_body)
    if exc.status_code == 400:  # Starlette's answer to a body it cannot parse, e.g. a malformed multipart upload
        return error_response(
            MalformedRequest(f"The request body is not valid: {exc.detail}"), request.app.state.error_body
        )
    code = "method_not_allowed" if exc.status_code == 405 else "http_error"
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)


def identity_of(scope: dict) -> str:
    """Who is calling, for usage rows and per-identity budgets (set and checked by middleware.RequestGate)."""
    return scope["state"]["who"].identity


def is_operator(request: Request) -> bool:
    """An operator may see every caller's usage: an OPERATOR_KEYS key, or a user holding OPERATOR_CLAIM."""
    return request.state.who.operator


def caller_of(request: Request, function: str) -> Caller:
    """Who made this request, and through which function: what its usage rows are filed under."""
    visitor = request.state.who.visitor
    return Caller(request.state.request_id, identity_of(request.scope), function, visitor and visitor.limits)
