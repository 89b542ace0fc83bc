"""What an answer spent: the usage and cost of its model calls summed, and the one place that shapes them for the
answers that show them (the buffered chat answer and its steps, the chat stream's data-usage part)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .providers.base import Usage
from .usage.meter import Meter


@dataclass(frozen=True, slots=True)
class Spent:
    usage: Usage
    cost_usd: Decimal

    @classmethod
    def total(cls, calls: Iterable[tuple[Usage, Decimal]]) -> Spent:
        """Every call's tokens and cost added up; estimated when any call's usage was."""
        calls = list(calls)
        used = Usage(
            sum(u.prompt_tokens for u, _ in calls),
            sum(u.completion_tokens for u, _ in calls),
            sum(u.cached_tokens for u, _ in calls),
            any(u.estimated for u, _ in calls),
        )
        return cls(used, sum((cost for _, cost in calls), Decimal(0)))

    def chat_answer(self, meter: Meter) -> dict:
        """POST /api/chat's usage fields (openapi.ChatAnswer)."""
        used = self.usage
        return {
            "tokens_used": used.prompt_tokens + used.completion_tokens,
            "usage": {
                "prompt_tokens": used.prompt_tokens,
                "completion_tokens": used.completion_tokens,
                "cached_tokens": used.cached_tokens,
                "estimated": used.estimated,
            },
            "cost_usd": float(self.cost_usd),
            "cost_krw": float(meter.krw(self.cost_usd)),
        }

    def chat_step(self) -> dict:
        """One step's usage fields in POST /api/chat's answer (openapi.ChatStep)."""
        used = self.usage
        return {
            "usage": {"prompt_tokens": used.prompt_tokens, "completion_tokens": used.completion_tokens},
            "cost_usd": float(self.cost_usd),
        }

    def stream_data(self, model_id: str, meter: Meter, steps: int) -> dict:
        """The chat stream's data-usage part (openapi_stream.StreamUsage), in the AI SDK's camelCase."""
        used = self.usage
        return {
            "model": model_id,
            "inputTokens": used.prompt_tokens,
            "outputTokens": used.completion_tokens,
            "cachedTokens": used.cached_tokens,
            "estimated": used.estimated,
            "costUsd": float(self.cost_usd),
            "costKrw": float(meter.krw(self.cost_usd)),
            "steps": steps,
        }
