"""`make openapi`: one OpenAPI document of every function's routes, merged from each FastAPI app's `app.openapi()`,
with what API Gateway adds from the template (each route's key: its security scheme, and the gateway's 401 and 403),
written to docs/openapi.json. web/client's types are generated from that file (web/client: `npm run generate`).

    python -m local.openapi            write docs/openapi.json
    python -m local.openapi --check    exit 1 when docs/openapi.json is not what the code produces
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from .lambda_bridge import load_module
from .template import ROOT, Route, functions

DOCUMENT = ROOT / "docs" / "openapi.json"


class ConflictingSchemas(ValueError):
    pass


def function_documents() -> dict[str, dict]:
    """Each API function's own document, by function name (functions without API routes have none)."""
    documents = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Mangum's constructor, outside an event loop
        for function in functions():
            if function.routes:
                documents[function.name] = load_module(function).app.openapi()
    return documents


def merge(documents: dict[str, dict]) -> dict:
    """The functions' paths and component schemas in one document; a schema name two functions define differently
    is an error, never a silent overwrite."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for name in sorted(documents):
        document = documents[name]
        for path, operations in document.get("paths", {}).items():
            taken = set(paths.get(path, {})) & set(operations)
            if taken:
                raise ConflictingSchemas(f"{name} declares {sorted(taken)} {path} again")
            paths.setdefault(path, {}).update(operations)
        for schema_name, schema in document.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(schema_name, schema) != schema:
                raise ConflictingSchemas(f"{name} defines the schema {schema_name} differently")
    merged = {
        "openapi": next(iter(documents.values()))["openapi"],
        "info": {"title": "airelay", "version": "1"},
        "paths": dict(sorted(paths.items())),
    }
    if schemas:
        merged["components"] = {"schemas": dict(sorted(schemas.items()))}
    return merged


# API Gateway's own answers to a route that needs a key, in the template's gateway-response shape
GATEWAY_REFUSALS = {
    "401": "No key: API Gateway's request_rejected (Unauthorized), before any function runs.",
    "403": "A key the usage plan does not hold: API Gateway's request_rejected (Forbidden), before any function runs.",
}
GATEWAY_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}


def with_gateway(document: dict, routes: list[Route]) -> dict:
    """Each route that needs a key declares it (an API key header, or a bearer token for the OpenAI-compatible
    routes, as its authorizer reads it), so /docs can send it, and lists API Gateway's 401 and 403."""
    schemes: dict[str, dict] = {}
    for route in routes:
        operation = document["paths"].get(route.path, {}).get(route.method.lower())
        if operation is None or not (route.api_key_required or route.authorizer):
            continue
        header = route.authorizer.headers[0] if route.authorizer and route.authorizer.headers else "x-api-key"
        name, scheme = security_scheme(header)
        schemes[name] = scheme
        operation["security"] = [{name: []}]
        responses = operation.setdefault("responses", {})
        for status, description in GATEWAY_REFUSALS.items():
            answer = responses.setdefault(status, {"description": description})
            if "content" not in answer:
                answer["content"] = {"application/json": {"schema": GATEWAY_ERROR}}
            elif description not in answer["description"]:
                answer["description"] = f"{answer['description']} Or: {description}"
    if schemes:
        document.setdefault("components", {})["securitySchemes"] = dict(sorted(schemes.items()))
    return document


def security_scheme(header: str) -> tuple[str, dict]:
    if header == "authorization":
        return "bearer", {"type": "http", "scheme": "bearer"}
    return header, {"type": "apiKey", "in": "header", "name": header}


def document() -> dict:
    """The merged document with API Gateway's part: what docs/openapi.json holds and the local API serves."""
    return with_gateway(merge(function_documents()), [r for f in functions() for r in f.routes])


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with docs/openapi.json instead of writing it")
    args = parser.parse_args(argv)
    text = render(document())
    relative = DOCUMENT.relative_to(ROOT)
    if args.check:
        if not DOCUMENT.is_file() or DOCUMENT.read_text("utf-8") != text:
            print(f"{relative} is not what the code produces: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    if DOCUMENT.is_file() and DOCUMENT.read_text("utf-8") == text:
        print(f"==> {relative} is up to date")
    else:
        DOCUMENT.write_text(text, "utf-8")
        print(f"==> wrote {relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
