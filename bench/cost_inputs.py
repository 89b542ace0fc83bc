"""What the cost benchmark measures from the code itself: the functions' memory and settings (template.yaml), the
DynamoDB writes and the log lines of one metered call (the real ledger and meter, against a recorder that keeps the
items as DynamoDB would), the access log line (the template's format), and prompt sizes (airelay's token count).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

from .template_functions import ROOT, function_specs

TABLE = "UsageTable"
IDENTITY = "key:a1b2c3d4e5"  # an API Gateway key id, as web.caller_of files a call under it
REQUEST_ID = "8f5e2d3a-0b1c-4d2e-9f3a-1b2c3d4e5f60"
CLAUSES = re.compile(r"\b(SET|ADD|REMOVE)\s+(.*?)(?=\s+\b(?:SET|ADD|REMOVE)\b|$)")
ASSIGNMENT = re.compile(r"^(\S+)\s*=\s*(?:if_not_exists\(\s*(\S+)\s*,\s*(:\w+)\s*\)|(:\w+))$")


def value_bytes(value: dict) -> int:
    """DynamoDB's size of an attribute value (docs: "Item sizes and formats"): strings in UTF-8, numbers one byte per
    two significant digits plus one, booleans and nulls one byte."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = len(data.lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"no size rule for a DynamoDB {kind} value here")


def item_bytes(item: dict) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class RecordingDynamoDB:
    """Stands in for boto3's DynamoDB client under the real DynamoLedger: keeps each item as DynamoDB would after a
    SET / ADD / REMOVE update or a put, and records every write with the size it is billed at (the larger of before and after). Any
    other call fails: a ledger that writes differently needs this model taught first."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.writes: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    @staticmethod
    def key(key: dict) -> tuple[str, str]:
        return key["pk"]["S"], key["sk"]["S"]

    def update_item(self, *, Key, UpdateExpression, ExpressionAttributeValues, ExpressionAttributeNames=None, **_):
        """SET (a value, or if_not_exists), ADD and REMOVE of top-level attributes; conditions are taken to hold
        (one call on a warm day: its holds are new, its settlement finds them)."""
        clauses = CLAUSES.findall(UpdateExpression)
        if " ".join(f"{action} {body}" for action, body in clauses) != " ".join(UpdateExpression.split()):
            raise NotImplementedError(f"the cost model knows SET, ADD and REMOVE only, not {UpdateExpression!r}")
        names, values = ExpressionAttributeNames or {}, ExpressionAttributeValues
        with self._lock:
            item = self.items.setdefault(self.key(Key), dict(Key))
            before = item_bytes(item)
            for action, body in clauses:
                for clause in (part.strip() for part in re.split(r",(?![^()]*\))", body)):
                    self._apply(item, action, clause, names, values)
            self.writes.append(("UpdateItem", max(before, item_bytes(item))))
        return {}

    @staticmethod
    def _apply(item: dict, action: str, clause: str, names: dict, values: dict) -> None:
        if action == "REMOVE":
            item.pop(names.get(clause, clause), None)
        elif action == "ADD":
            name, placeholder = clause.split()
            name = names.get(name, name)
            item[name] = {"N": str(Decimal(item.get(name, {"N": "0"})["N"]) + Decimal(values[placeholder]["N"]))}
        else:
            match = ASSIGNMENT.match(clause)
            if not match:
                raise NotImplementedError(f"the cost model does not know the assignment {clause!r}")
            name, _, if_absent, value = match.groups()
            name = names.get(name, name)
            if value or name not in item:
                item[name] = values[value or if_absent]

    def put_item(self, *, Item, **_):
        with self._lock:
            before = item_bytes(self.items.get(self.key(Item), {}))
            self.items[self.key(Item)] = Item
            self.writes.append(("PutItem", max(before, item_bytes(Item))))
        return {}


@dataclass(frozen=True)
class LedgerCall:
    """One metered call as the ledger records it today."""

    writes: int
    write_units: int
    round_trips: int  # ledger calls (reserve, settle): each sends its writes together
    row_bytes: int  # the call's usage row, kept for the retention period
    emf_bytes: int  # the metrics line the meter prints
    emf_metrics: int  # metric names in it (each with the function and model as dimensions)


def metered_call(settings, model_id: str, function: str, usage) -> LedgerCall:
    """Opens and closes one call through the real Meter and DynamoLedger on a warm day (the day's counters exist)."""
    from airelay.usage.dynamodb import DynamoLedger
    from airelay.usage.meter import Meter
    from airelay.usage.pricing import load_prices

    client = RecordingDynamoDB()
    ledger = DynamoLedger(TABLE, SimpleNamespace(dynamodb=client), settings.usage_retention_days)
    trips = []
    for name in ("reserve", "settle"):
        method = getattr(ledger, name)
        setattr(ledger, name, lambda *a, _m=method, _n=name: (trips.append(_n), _m(*a))[1])
    meter = Meter(ledger, load_prices(settings.model_prices), settings)

    async def once() -> None:
        call = await meter.open(
            request_id=REQUEST_ID,
            identity=IDENTITY,
            function=function,
            model_id=model_id,
            prompt_tokens=usage.prompt_tokens,
            max_tokens=settings.default_max_tokens,
        )
        await meter.close(call, usage, "ok")

    with contextlib.redirect_stdout(io.StringIO()):
        asyncio.run(once())  # the first call creates the day's counters
    client.writes.clear()
    trips.clear()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        asyncio.run(once())
    ledger._pool.shutdown()
    rows = [size for operation, size in client.writes if operation == "PutItem"]
    lines = [json.loads(line) for line in printed.getvalue().splitlines() if line.startswith("{")]
    return LedgerCall(
        writes=len(client.writes),
        write_units=sum(write_units(size) for _, size in client.writes),
        round_trips=len(trips),
        row_bytes=sum(rows),
        emf_bytes=len(printed.getvalue().encode()),
        emf_metrics=sum(len(d["Metrics"]) for line in lines for d in line["_aws"]["CloudWatchMetrics"]),
    )


def functions() -> dict[str, dict]:
    """Each function of template.yaml: its memory (Globals + its own MemorySize), the Settings its environment gives
    it (parameters at their defaults), and whether it prints the AI calls' EMF metrics (Powertools, unless
    POWERTOOLS_METRICS_DISABLED is true)."""
    from airelay.settings import Settings

    return {
        spec["name"]: {
            "memory_mb": int(spec["memory_mb"]),
            "settings": Settings.from_env(spec["env"]),
            "metrics": str(spec["env"].get("POWERTOOLS_METRICS_DISABLED", "")).lower() not in TRUTHY,
        }
        for spec in function_specs()
    }


TRUTHY = ("1", "true", "yes", "on", "y", "t")  # Powertools' strtobool


def platform_log_bytes(memory_mb: int, billed_ms: float) -> int:
    """Lambda's own START, END and REPORT lines of one warm invocation (text log format, the template's default)."""
    lines = (
        f"START RequestId: {REQUEST_ID} Version: 12\n",
        f"END RequestId: {REQUEST_ID}\n",
        f"REPORT RequestId: {REQUEST_ID}\tDuration: {billed_ms:.2f} ms\tBilled Duration: {math.ceil(billed_ms)} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {min(memory_mb, 180)} MB\t\n",
    )
    return sum(len(line.encode()) for line in lines)


ACCESS_LOG_SAMPLE = {
    "requestId": REQUEST_ID,
    "requestTime": "04/Dec/2026:01:23:45 +0000",
    "identity.sourceIp": "203.0.113.10",
    "httpMethod": "POST",
    "resourcePath": "/api/chat/stream",
    "status": "200",
    "protocol": "HTTP/1.1",
    "responseLength": "2480",
    "responseLatency": "5431",
    "integrationLatency": "5428",
    "integrationStatus": "200",
    "identity.apiKeyId": "a1b2c3d4e5",
    "error.responseType": "-",
    "error.messageString": '"-"',
}


@dataclass(frozen=True)
class Api:
    """What template.yaml turns on for the API: the access log line's size, X-Ray tracing, a WAF web ACL's rules."""

    access_log_bytes: int
    tracing: bool
    waf_rules: int | None


def api_features(template: dict) -> Api:
    resources = template["Resources"].values()
    properties = next(r for r in resources if r["Type"] == "AWS::Serverless::Api")["Properties"]
    line = properties.get("AccessLogSetting", {}).get("Format")
    size = 0
    if line:  # the template's format with typical values
        size = len(re.sub(r"\$context\.([A-Za-z.]+)", lambda m: ACCESS_LOG_SAMPLE.get(m.group(1), "-"), line)) + 1
    acls = [r for r in resources if r["Type"] == "AWS::WAFv2::WebACL" and "Condition" not in r]  # always made
    waf_rules = sum(len(r["Properties"].get("Rules", [])) for r in acls) if acls else None
    return Api(size, bool(properties.get("TracingEnabled")), waf_rules)


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    from airelay.tokens import count_prompt

    return count_prompt(messages)


def faq_fallback_prompt(settings) -> int:
    """Tokens of the request the FAQ bot sends the chat model below its threshold: the customer_support persona,
    the three nearest entries of the example FAQ as context, and a question."""
    from airelay.faq.fallback import chat_request
    from airelay.faq.index import IndexedEntry, Match
    from airelay.faq.source import parse_source

    path = ROOT / "layers/core/airelay/data/faq/shop_faq.yaml"
    source = parse_source(path.read_bytes(), path.name)
    matches = [Match(IndexedEntry(e.id, e.question, e.answer), 0.5) for e in source.entries[:3]]
    request = chat_request("주문한 상품을 다른 주소로 보낼 수 있나요?", matches, settings)
    return prompt_tokens(request.messages)


def template() -> dict:
    from local.template import load_template

    return load_template(ROOT / "template.yaml")
