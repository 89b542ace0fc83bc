"""GET /api/usage: spend and tokens for a date range, grouped by day, model or caller, with today's budget."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from .. import usage
from ..errors import InvalidInput
from ..openapi import UsageReport, answers
from ..usage.report import MAX_DAYS, build_report
from ..web import identity_of

router = APIRouter()

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_day(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also read `0` or `1700000000` as a Unix time."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day looks like YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_day)]


@router.get("/api/usage", responses=answers(UsageReport, 401, 422))
async def usage_report(
    request: Request,
    days: int = Query(7, ge=1, le=MAX_DAYS, description="the last N days, today included"),
    by: Literal["day", "model", "identity"] = "day",
    start: Day | None = Query(None, alias="from", description="first day (UTC), instead of days"),
    end: Day | None = Query(None, alias="to", description="last day (UTC), default today"),
) -> JSONResponse:
    today = datetime.now(UTC).date()
    end = end or today
    start = start or end - timedelta(days=days - 1)
    if start > end:
        raise InvalidInput("from must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"the range may cover at most {MAX_DAYS} days")
    meter = await usage.meter()
    report = await anyio.to_thread.run_sync(build_report, meter, start, end, by, identity_of(request.scope))
    return JSONResponse(report)
