"""Each function's own OpenAPI document, as the fuzz tests read it (tests/integration/test_fuzz_openapi_*.py): its
FastAPI app's `app.openapi()`, since the apps serve no /openapi.json and the local API serves only the template's
routes."""

from __future__ import annotations

import copy
import warnings

from local.lambda_bridge import load_module
from local.template import functions

FUNCTIONS = {f.name: f for f in functions() if f.routes}
UPLOAD = "/api/image/classify/upload"


def document_of(name: str) -> dict:
    """The function's OpenAPI document, from its app (imported as Lambda would: Mangum's constructor warns, outside
    an event loop, that there is none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return copy.deepcopy(
            load_module(FUNCTIONS[name]).app.openapi()
        )  # the app keeps its own; examples go in this one
