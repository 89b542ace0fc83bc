"""What API Gateway answers itself, before or instead of a function: its errors, in the shape template.yaml's
GatewayResponses give them, and its API key check (the route's REQUEST authorizer, then the usage plan's keys, which
API_KEYS stands in for)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from .template import Authorizer, Route


class GatewayError(Exception):
    """An answer of API Gateway's own: `kind` is its gateway response type (DEFAULT_4XX or DEFAULT_5XX by status when
    it has none of its own)."""

    def __init__(self, status: int, message: str | None, kind: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


# API Gateway's errors the local API plays: status, message ($context.error.message), gateway response type
UNAUTHORIZED = (401, "Unauthorized", "UNAUTHORIZED")
FORBIDDEN_KEY = (403, "Forbidden", "INVALID_API_KEY")
DENIED = (403, "User is not authorized to access this resource", "ACCESS_DENIED")
AUTHORIZER_FAILED = (500, None, "AUTHORIZER_FAILURE")
NO_ROUTE = (403, "Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN")
TOO_LARGE = (413, "Request Too Large", "REQUEST_TOO_LARGE")
# the Lambda API refused the invocation (its event is over LAMBDA_MAX_PAYLOAD): 500; the function failed or was
# stopped at its Timeout: 502 (Lambda developer guide, "Handling Lambda errors with an API Gateway API")
INVOCATION_REFUSED = (500, "Internal server error")
FUNCTION_FAILED = (502, "Internal server error")
TIMED_OUT = (504, "Endpoint request timed out", "INTEGRATION_TIMEOUT")
MAX_KEPT_POLICIES = 10_000


class Gateway:
    def __init__(self, api: dict) -> None:
        """`api`: the AWS::Serverless::Api's Properties."""
        self.responses = api.get("GatewayResponses") or {}
        self.key_source = api.get("ApiKeySourceType", "HEADER")
        # an authorizer's policy for its identity source's values, until it expires: API Gateway's authorizer cache
        self.policies: dict[tuple[Authorizer, tuple[str, ...]], tuple[float, dict]] = {}

    def answer(self, error: GatewayError) -> tuple[int, bytes]:
        """The status and JSON body API Gateway sends for `error`: its response type's template, else DEFAULT_4XX's or
        DEFAULT_5XX's, else API Gateway's own {"message": ...}."""
        default = "DEFAULT_4XX" if error.status < 500 else "DEFAULT_5XX"
        declared = self.responses.get(error.kind) or self.responses.get(default) or {}
        status = int(self.responses.get(error.kind, {}).get("StatusCode", error.status))
        template = declared.get("ResponseTemplates", {}).get("application/json")
        if template is None:
            return status, json.dumps({"message": error.message}).encode()
        return status, template.replace("$context.error.messageString", json.dumps(error.message)).encode()

    async def check_key(
        self,
        route: Route,
        headers: dict[str, str],
        event: Callable[[], dict],
        keys: dict[str, str],
        invoke: Callable[[str, dict], Awaitable[dict]],
    ) -> None:
        """Raises the GatewayError API Gateway answers a request with when `route` needs an API key of `keys` ({key:
        name}) and the request, of `headers` (lower-case names), has none. `event()` makes the request's proxy event,
        for the authorizer; `invoke(function, event)` runs a Lambda function."""
        if not route.api_key_required or not keys:
            return
        headers = {name: value for name, value in headers.items() if value}
        key = headers.get("x-api-key", "")
        if route.authorizer:
            if not all(name in headers for name in route.authorizer.headers):
                raise GatewayError(*UNAUTHORIZED)  # an identity source is missing: the authorizer is not called
            answer = await self.authorize(route.authorizer, headers, event, invoke)
            statements = answer.get("policyDocument", {}).get("Statement", [])
            if not any(statement.get("Effect") == "Allow" for statement in statements):
                raise GatewayError(*DENIED)
            if self.key_source == "AUTHORIZER":
                key = answer.get("usageIdentifierKey") or ""
        if key not in keys:
            raise GatewayError(*FORBIDDEN_KEY)

    async def authorize(self, authorizer: Authorizer, headers: dict, event: Callable[[], dict], invoke) -> dict:
        """The authorizer's answer for the request's identity source: kept for the authorizer's TTL, as API Gateway
        keeps it (a 401 or a failure is not kept)."""
        identity = (authorizer, tuple(headers[name] for name in authorizer.headers))
        expires, policy = self.policies.get(identity, (0.0, {}))
        if time.monotonic() < expires:
            return policy
        request = {k: v for k, v in event().items() if k not in ("body", "isBase64Encoded")}
        method_arn = f"arn:aws:execute-api:us-east-1:000000000000:local/local/{request['httpMethod']}{request['path']}"
        try:
            policy = await invoke(authorizer.function, {**request, "type": "REQUEST", "methodArn": method_arn})
        except Exception as failed:
            raise GatewayError(*(UNAUTHORIZED if str(failed) == "Unauthorized" else AUTHORIZER_FAILED)) from None
        if authorizer.ttl_s > 0:
            if len(self.policies) >= MAX_KEPT_POLICIES:
                self.policies.clear()
            self.policies[identity] = (time.monotonic() + authorizer.ttl_s, policy)
        return policy
