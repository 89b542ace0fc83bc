"""JSON log lines that carry the request id and caller, and CloudWatch EMF metrics for every AI call.

Nothing here logs prompt or answer text: only ids, models, counts, costs, timings and error classes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

from .settings import Settings

# (request id, caller identity) of the request being served; set by web.Guard for the request's task.
current_request: ContextVar[tuple[str, str] | None] = ContextVar("current_request", default=None)

EXTRA_FIELDS = ("model", "function", "status", "code")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        served = current_request.get()
        if served:
            line["request_id"], line["identity"] = served
        for name in ("request_id", "identity", *EXTRA_FIELDS):
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class Stdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the moment of writing."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(settings: Settings) -> None:
    """Once per container: airelay's loggers write JSON lines to stdout (CloudWatch Logs on AWS)."""
    logger = logging.getLogger("airelay")
    if any(isinstance(h, Stdout) for h in logger.handlers):
        return
    handler = Stdout()
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    logger.propagate = False


def emit_call_metrics(row, namespace: str = "Airelay") -> None:
    """One CloudWatch embedded-metric-format line per AI call: tokens, cost, latency, errors by function and model."""
    metrics = {
        "InputTokens": row.prompt_tokens,
        "OutputTokens": row.completion_tokens,
        "CachedTokens": row.cached_tokens,
        "CostUsd": float(row.cost_usd),
        "LatencyMs": row.latency_ms,
        "Errors": int(row.status == "error"),
        "Cancelled": int(row.status == "cancelled"),
    }
    units = {"CostUsd": "None", "LatencyMs": "Milliseconds"}
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["function", "model"]],
                    "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in metrics],
                }
            ],
        },
        "function": row.function,
        "model": row.model,
        "status": row.status,
        "request_id": row.request_id,
        **metrics,
    }
    sys.stdout.write(json.dumps(document) + "\n")
