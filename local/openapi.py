"""`make openapi`: one OpenAPI document of every function's routes, merged from each FastAPI app's `app.openapi()`,
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
from .template import ROOT, functions

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


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with docs/openapi.json instead of writing it")
    args = parser.parse_args(argv)
    text = render(merge(function_documents()))
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
