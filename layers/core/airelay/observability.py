"""Powertools for AWS Lambda, set up once for every function: JSON logs, CloudWatch EMF metrics, X-Ray traces.

- `logger` is the parent of every `airelay.*` logger: one JSON line per record on stdout, with the request id and the
  caller's identity of the request being served (web.py binds them per request). Nothing logs prompt or answer text.
- `metrics` is the function's Powertools Metrics: the Mangum handlers are wrapped with its `log_metrics`, which adds
  the cold-start metric. Each AI call is its own EMF document (`record_call`), flushed when the call is settled,
  because its dimensions (function, model) are its own: a request may call several models. That also covers the
  chat function, which the Lambda Web Adapter runs without a handler to decorate. POWERTOOLS_METRICS_DISABLED=true
  turns the AI calls' metrics off (`make dev` does so unless told otherwise).
- `tracer` patches botocore when the function runs on Lambda with `Tracing: Active`; anywhere else Powertools turns
  it off by itself (no LAMBDA_TASK_ROOT), so locally it records and sends nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
import warnings
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from .settings import Settings

if TYPE_CHECKING:
    from .usage.ledger import UsageRow

SERVICE = "airelay"  # the Logger is named after it, so the `airelay.*` loggers of every module are its children

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)
# X-Ray patches botocore (boto3's DynamoDB, S3 and SSM calls, Powertools Parameters); the model providers use httpx2,
# which X-Ray does not patch.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))

# The AI calls' own EMF documents: one instance made at INIT, each document flushed (which empties it) before the
# next is begun. The local API records calls from several threads, hence the lock.
call_metrics = EphemeralMetrics()
call_metrics_lock = threading.Lock()

# A Mangum request that makes no AI call has no application metric to flush: only the cold start, if any.
warnings.filterwarnings("ignore", "No application metrics to publish")

TRACE_HEADER = b"x-amzn-trace-id"
TRACE_ENV = "_X_AMZN_TRACE_ID"


def configure(settings: Settings) -> None:
    """Applies the settings: log level and metrics namespace (the settings may change between apps in tests)."""
    logger.setLevel(settings.log_level.upper())
    metrics.namespace = settings.metrics_namespace


def bind_request(request_id: str, identity: str) -> None:
    """Every line logged while this request is served (its task, and threads started from it) carries both."""
    logger.thread_safe_append_keys(request_id=request_id, identity=identity)


def record_call(row: UsageRow, namespace: str) -> None:
    """One EMF document for one AI call (its usage row), dimensions function and model. Not even built when metrics
    are off (Powertools' own test, which its flush applies after the building)."""
    if is_metrics_disabled():
        return
    with call_metrics_lock:
        call = call_metrics
        call.namespace = namespace
        try:
            call.add_dimension(name="function", value=row.function)
            call.add_dimension(name="model", value=row.model)
            call.add_metric(name="Calls", unit=MetricUnit.Count, value=1)
            call.add_metric(name="InputTokens", unit=MetricUnit.Count, value=row.prompt_tokens)
            call.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=row.completion_tokens)
            call.add_metric(name="CachedTokens", unit=MetricUnit.Count, value=row.cached_tokens)
            call.add_metric(name="CostUsd", unit=MetricUnit.NoUnit, value=float(row.cost_usd))
            call.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=row.latency_ms)
            call.add_metric(name="Failures", unit=MetricUnit.Count, value=int(row.status == "error"))
            call.add_metric(name="Cancellations", unit=MetricUnit.Count, value=int(row.status == "cancelled"))
            call.add_metadata(key="status", value=row.status)
            call.add_metadata(key="request_id", value=row.request_id)
            call.flush_metrics()
        except Exception:
            call.clear_metrics()  # not carried into the next call's document
            raise


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """An unexpected failure for the operator: its type and where it was raised, with those of the exceptions it
    groups (a task group's) or was raised from, never a message, which may quote a request's or an answer's text (a
    validation error quotes its input)."""
    names, frames = [], []
    for failure in failures(exc):
        names.append(type(failure).__name__)
        frames.append(f"{type(failure).__name__}:\n" + "".join(traceback.format_tb(failure.__traceback__)))
    log.error("%s: %s", what, ", ".join(names), extra={"traceback": "".join(frames)})


def failures(exc: BaseException, seen: set[int] | None = None) -> list[BaseException]:
    """`exc`, the exceptions it groups, and those it was raised from or during, each once."""
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return []
    seen.add(id(exc))
    found = [exc]
    for inner in [*getattr(exc, "exceptions", ()), exc.__cause__, exc.__context__]:
        if isinstance(inner, BaseException):
            found += failures(inner, seen)
    return found


class WebAdapterTrace:
    """ASGI middleware for the function the Lambda Web Adapter runs: the app is not the Lambda runtime's process, so
    no _X_AMZN_TRACE_ID is set for it, where the X-Ray SDK looks for the invocation's trace. The adapter passes it
    as the `x-amzn-trace-id` header instead, and advises copying it there. Lambda sends an execution environment one
    request at a time."""

    def __init__(self, app) -> None:
        self.app = app
        self.enabled = not tracer.disabled

    async def __call__(self, scope, receive, send) -> None:
        if self.enabled and scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == TRACE_HEADER:
                    os.environ[TRACE_ENV] = value.decode("latin-1")
        await self.app(scope, receive, send)
