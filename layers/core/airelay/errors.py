"""Errors a client may see. Each carries its HTTP status, a stable code and a short, safe message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .providers.base import Usage


class AirelayError(Exception):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side."

    def __init__(
        self, message: str | None = None, *, retry_after: int | None = None, usage: Usage | None = None
    ) -> None:
        self.message = message or type(self).message
        self.retry_after = retry_after
        self.usage = usage  # tokens the failed call spent all the same, where they are known: they are billed
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        return {"retry-after": str(self.retry_after)} if self.retry_after is not None else {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def own_body(error: AirelayError) -> dict:
    """The error's own body (its class's `body`, with what a subclass adds): the apps' default error shape."""
    return error.body()


class InvalidInput(AirelayError):
    status = 422
    code = "invalid_input"
    message = "The request is not valid."


class MalformedRequest(InvalidInput):
    status = 400
    code = "malformed_request"
    message = "The request body is not valid JSON."


class PayloadTooLarge(InvalidInput):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class Unauthorized(AirelayError):
    status = 401
    code = "unauthorized"
    message = "A valid x-api-key header is required."


class NotFound(AirelayError):
    status = 404
    code = "not_found"
    message = "No such route."


class NotConfigured(AirelayError):
    status = 500
    code = "not_configured"
    message = "The server is not configured for this request."


class BudgetExceeded(AirelayError):
    """Which budget ran out: all callers' together ("global": its figures tell of other callers' spend, so the body
    leaves them out), or the caller's own ("caller": with its limit and what the caller used)."""

    status = 429
    code = "budget_exceeded"
    message = "The daily budget is used up."

    def __init__(self, message: str | None = None, *, retry_after: int, budget: str, limit, used) -> None:
        super().__init__(message, retry_after=retry_after)
        self.budget = budget
        self.limit = limit
        self.used = used

    def headers(self) -> dict[str, str]:
        # retrying cannot help before the budget resets: OpenAI's SDKs honour this header and do not retry
        return {**super().headers(), "x-should-retry": "false"}

    def body(self) -> dict:
        body = super().body()
        body["error"]["budget"] = self.budget
        if self.budget == "caller":
            body["error"].update(limit=float(self.limit), used=float(self.used))
        return body


class RateLimitExceeded(AirelayError):
    """The caller's own requests or tokens per minute (`rate`), with its limit and what this minute has used. A
    request larger than the limit itself has no `retry_after`: it would be refused in every minute."""

    status = 429
    code = "rate_limit_exceeded"
    message = "Too many requests this minute."

    def __init__(self, message: str | None = None, *, retry_after: int | None, rate: str, limit, used) -> None:
        super().__init__(message, retry_after=retry_after)
        self.rate = rate
        self.limit = limit
        self.used = used

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:  # OpenAI's SDKs honour this header and do not retry
            return {"x-should-retry": "false"}
        return super().headers()

    def body(self) -> dict:
        body = super().body()
        body["error"].update(rate=self.rate, limit=float(self.limit), used=float(self.used))
        return body


class ProviderRateLimited(AirelayError):
    status = 429
    code = "rate_limited"
    message = "The model provider is rate limiting requests. Try again shortly."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None, usage: Usage | None = None):
        super().__init__(message, retry_after=retry_after or 1, usage=usage)  # a provider that said nothing: 1 s


class ProviderFailed(AirelayError):
    status = 502
    code = "provider_failed"
    message = "The model provider returned an error."


class UnreadableAnswer(ProviderFailed):
    """The provider answered (2xx: it has the prompt, and bills it) with what cannot be read: billed its reported usage
    where that was read, else the prompt, estimated."""

    message = "The model provider sent a malformed response."


class ProviderUnavailable(AirelayError):
    status = 503
    code = "provider_unavailable"
    message = "The model provider is unavailable."


class ProviderTimeout(AirelayError):
    status = 504
    code = "provider_timeout"
    message = "The model provider did not answer in time."


class FaqIndexMissing(AirelayError):
    status = 503
    code = "faq_index_missing"
    message = (
        "The FAQ index is not built yet: run `make faq-index` locally, upload an FAQ source file under "
        "source/ in the FAQ bucket on AWS, or run `python -m airelay.faq build SOURCE --to URL`."
    )


class FaqIndexUnusable(AirelayError):
    status = 503
    code = "faq_index_unusable"
    message = "The FAQ index cannot be used: rebuild it with `python -m airelay.faq build SOURCE --to URL`."
