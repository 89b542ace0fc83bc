"""GET /api/usage: spend, tokens and refusals for a date range, grouped by day, model, caller or kind of caller,
with today's budget: the caller's own, or every caller's and today's top callers for an operator."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import anyio
from fastapi import Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .. import usage
from ..errors import InvalidInput, ProviderUnavailable
from ..openapi import UsageReport, errors
from ..usage.report import MAX_DAYS, build_report
from ..web import api_router, identity_of, is_operator

log = logging.getLogger("airelay.usage")

router = api_router()

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also read `0` or `1700000000` as a Unix time."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day looks like YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_day)]


class UsageQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    days: int = Field(7, ge=1, le=MAX_DAYS, description="the last N days, today included")
    by: Literal["day", "model", "identity", "kind"] = Field(
        "day", description="group the rows by day, model, caller, or kind of caller (user, key, visitor, ip)"
    )
    start: Day | None = Field(None, alias="from", description="first day (UTC), instead of days")
    end: Day | None = Field(None, alias="to", description="last day (UTC), default today")


@router.get(
    "/api/usage", response_model=UsageReport, response_model_exclude_unset=True, responses=errors(401, 422, 503)
)
async def usage_report(query: Annotated[UsageQuery, Query()], request: Request) -> dict:
    today = datetime.now(UTC).date()
    end = query.end or today
    try:
        start = query.start or end - timedelta(days=query.days - 1)
    except OverflowError:
        raise InvalidInput("the range would start before 0001-01-01") from None
    by = query.by
    if start > end:
        raise InvalidInput("from must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"the range may cover at most {MAX_DAYS} days")
    meter = await usage.meter()
    who, everyone = identity_of(request.scope), is_operator(request)
    visitor = request.state.who.visitor
    limits = visitor and visitor.limits
    try:
        return await anyio.to_thread.run_sync(build_report, meter, start, end, by, who, everyone, limits)
    except Exception:
        log.exception("usage ledger unavailable for a report")
        raise ProviderUnavailable("Usage accounting is unavailable; try again shortly.") from None
