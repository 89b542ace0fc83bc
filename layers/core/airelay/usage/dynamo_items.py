"""How the usage ledger's counters, holds and rows look as DynamoDB items (airelay.usage.dynamodb writes them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from botocore.exceptions import ClientError

from .ledger import TOTAL, OverLimit, Totals, UsageRow, caller_model_key, model_and_caller, model_key

ROW_FIELDS = {
    "call_id": "S",
    "request_id": "S",
    "at": "S",
    "day": "S",
    "identity": "S",
    "function": "S",
    "provider": "S",
    "model": "S",
    "prompt_tokens": "N",
    "cached_tokens": "N",
    "completion_tokens": "N",
    "cost_usd": "N",
    "latency_ms": "N",
    "status": "S",
}


def number(value) -> dict:
    return {"N": str(value)}


def failed_condition(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == (
        "ConditionalCheckFailedException"
    )


def attempt(write) -> BaseException | None:
    """Runs one write; returns its failure instead of raising it, so the writes sent with it still finish. A failed
    condition means the write was applied before (a retry of a landed attempt)."""
    try:
        write()
    except Exception as error:
        return None if failed_condition(error) else error
    return None


def figures(row: UsageRow) -> dict[str, Decimal | int]:
    return {
        "spent": row.cost_usd,
        "calls": 1,
        "errors": int(row.status == "error"),
        "cancelled": int(row.status == "cancelled"),
        "prompt_tokens": row.prompt_tokens,
        "cached_tokens": row.cached_tokens,
        "completion_tokens": row.completion_tokens,
    }


def counter_totals(item: dict, suffix: str = "") -> Totals:
    get = lambda name: item.get(name + suffix, {}).get("N", "0")  # noqa: E731
    spent = Decimal(get("spent"))
    return Totals(
        int(get("calls")),
        int(get("errors")),
        int(get("prompt_tokens")),
        int(get("cached_tokens")),
        int(get("completion_tokens")),
        spent,
        Decimal(get("committed")) if not suffix else spent,
        int(get("cancelled")),
        int(get("refused")),
    )


def item_totals(item: dict) -> dict[str, Totals]:
    """A day counter's figures by key: its own ("total" or "id:<identity>"), and those it keeps per model ("model:<model
    id>" on the total, "idmodel:<model id>|<identity>" on a caller's)."""
    key = item["sk"]["S"]
    totals = {key: counter_totals(item)}
    for name in item:
        if name.startswith("calls@"):
            model = name.removeprefix("calls@")
            by_model = model_key(model) if key == TOTAL else caller_model_key(key.removeprefix("id:"), model)
            totals[by_model] = counter_totals(item, f"@{model}")
    return totals


def summed_from_callers(stored: dict[str, Totals]) -> dict[str, Totals]:
    """A day's counters with its total and each model's summed from the callers' ("id:", "idmodel:"), which every
    settle writes, with budget leases or without (only the plain ledger adds a call's figures to the total too); the
    total keeps its own `committed`, the global budget's holds or leased slices."""
    totals = {key: figures for key, figures in stored.items() if key.startswith(("id:", "idmodel:"))}
    overall = Totals()
    for key, figures in list(totals.items()):
        if key.startswith("id:"):
            overall.add(figures)
        else:
            model, _ = model_and_caller(key)
            totals.setdefault(model_key(model), Totals()).add(figures)
    if totals or TOTAL in stored:
        overall.committed = stored[TOTAL].committed if TOTAL in stored else Decimal(0)
        overall.refused = 0  # refusals are the callers' figures only
        totals[TOTAL] = overall
    return totals


def hold_name(call_id: str) -> str:
    return f"hold:{call_id}"


def stale_minutes(minute: str) -> list[str]:
    """ "HH:MM" of the minutes 7 to 12 before `minute` ("YYYY-MM-DDTHH:MM") on its day: a call settles within the
    stream deadline (5 minutes), so nothing still trues them up."""
    now = datetime.fromisoformat(minute)
    before = (now - timedelta(minutes=back) for back in range(7, 13))
    return [m.strftime("%H:%M") for m in before if m.date() == now.date()]


def over_limit(held: list, item: dict) -> OverLimit:
    """The first of the holds that did not fit the item as it was."""
    for hold, attribute in held:
        current = Decimal(item[attribute]["N"]) if attribute in item else Decimal(0)
        if hold.limit is not None and current + hold.amount > hold.limit:
            return OverLimit(hold, current)
    hold, attribute = next((h, a) for h, a in held if h.limit is not None)  # the item changed since: a stand-in read
    return OverLimit(hold, Decimal(item[attribute]["N"]) if attribute in item else Decimal(0))
