"""The arithmetic of the cost benchmark: what one call of a capability costs on AWS, airelay's fixed monthly cost, a
LiteLLM deployment sized the way LiteLLM's own docs advise, and where the two meet. Prices come in as a table
(bench/cost_prices.csv: value, unit, source and date per line); nothing here reads a file other than that table, or
measures anything.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOURS_PER_MONTH = 730  # AWS's pricing convention
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MILLION = 1_000_000
GB = 1e9
PRICE_TABLE = Path(__file__).with_name("cost_prices.csv")

# LiteLLM's database and Redis sizing by sustained RPS (docs.litellm.ai/docs/proxy/db_sizing and redis_sizing, "Cloud
# recommendations", AWS): up to this peak RPS, this instance price key (and for Postgres its gp3 storage in GB).
POSTGRES_TIERS = ((1000, "rds_db_m7g_large_hour", 200), (5000, "rds_db_m7g_xlarge_hour", 500))
POSTGRES_TOP = ("rds_db_m7g_2xlarge_hour", 1000)
REDIS_TIERS = ((1000, "elasticache_m7g_large_hour"),)
REDIS_TOP = "elasticache_m7g_xlarge_hour"


@dataclass(frozen=True)
class Price:
    value: float
    unit: str
    source: str
    date: str
    note: str


def read_prices(path: Path = PRICE_TABLE) -> dict[str, Price]:
    with path.open(newline="", encoding="utf-8") as file:
        return {
            row["key"]: Price(float(row["value"]), row["unit"], row["source"], row["date"], row["note"])
            for row in csv.DictReader(file)
        }


def with_overrides(prices: dict[str, Price], overrides: dict[str, float]) -> dict[str, Price]:
    """The table with some values replaced (command-line flags); a replaced line says so in its source."""
    unknown = sorted(set(overrides) - set(prices))
    if unknown:
        raise KeyError(f"not in the price table: {', '.join(unknown)}")
    changed = dict(prices)
    for key, value in overrides.items():
        old = prices[key]
        changed[key] = Price(value, old.unit, "command line", old.date, f"was {old.value:g} ({old.source})")
    return changed


@dataclass(frozen=True)
class CallProfile:
    """What one warm call of a capability uses on AWS."""

    capability: str
    function: str
    memory_mb: int
    billed_ms: float  # Lambda duration, model wait included
    write_units: float  # DynamoDB write request units
    stored_bytes: float  # DynamoDB bytes kept per call (its usage row), for `retention_days`
    retention_days: float
    log_bytes: float  # CloudWatch Logs ingested: the function's lines and the API's access log line
    token_usd: float = 0.0  # the model's price for the call's tokens (not part of the infrastructure)
    etag_check_s: float | None = None  # FAQ: each warm container checks the index's ETag at most this often
    restore_ms: float = 0.0  # after-restore hooks of a SnapStart restore (billed duration)
    first_extra_ms: float = 0.0  # what the first answer after a restore takes beyond a warm one

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


def xray_share(api_rps: float) -> float:
    """Traces recorded per request under the default sampling rule: the first request each second, 5 % of the rest."""
    if api_rps <= 0:
        return 1.0
    return (min(api_rps, 1.0) + 0.05 * max(api_rps - 1.0, 0.0)) / api_rps


def etag_checks_per_call(rps: float, duration_s: float, check_s: float) -> float:
    """HEAD requests per FAQ call: each warm container (Little's law, at least one) checks at most every check_s."""
    if rps <= 0:
        return 1.0
    containers = max(1.0, rps * duration_s)
    return min(1.0, containers / check_s / rps)


def call_cost(
    p: CallProfile, prices: dict[str, Price], api_rps: float, rps: float, waf: bool = False, tracing: bool = True
) -> dict[str, float]:
    """USD per call, by line of the bill. `api_rps`: the whole API's rate (X-Ray samples across it); `rps`: this
    capability's rate (the FAQ's ETag checks are per warm container, and once more after each restore)."""

    def v(key: str) -> float:
        return prices[key].value

    gb_second = v("lambda_arm_gb_second")
    cold = v("cold_start_share")
    s3_reads = etag_checks_per_call(rps, p.billed_ms / 1000, p.etag_check_s) + cold if p.etag_check_s else 0.0
    stored_gb_months = p.stored_bytes / GB * p.retention_days / DAYS_PER_MONTH
    return {
        "lambda_requests": v("lambda_request") / MILLION,
        "lambda_duration": p.memory_gb * math.ceil(p.billed_ms) / 1000 * gb_second,
        "snapstart_restore": cold
        * (
            p.memory_gb * v("snapstart_restore_gb") + p.memory_gb * (p.restore_ms + p.first_extra_ms) / 1000 * gb_second
        ),
        "api_gateway": v("apigw_rest_request") / MILLION,
        "dynamodb": p.write_units * v("dynamodb_write_unit") / MILLION
        + stored_gb_months * (v("dynamodb_storage_gb_month") + v("dynamodb_pitr_gb_month")),
        "s3": s3_reads * v("s3_get_request") / 1000,
        "logs": p.log_bytes / GB * (v("logs_ingest_gb") + v("logs_storage_gb_month")),
        "xray": xray_share(api_rps) * v("xray_trace_recorded") / MILLION if tracing else 0.0,
        "waf": v("waf_request") / MILLION if waf else 0.0,
    }


def airelay_fixed(
    memory_mb: dict[str, int], metric_series: int, prices: dict[str, Price], waf_rules: int | None = None
) -> dict[str, float]:
    """USD a month whatever the traffic: every function's SnapStart snapshot kept cached, the custom metrics, WAF."""
    cached_gb = sum(memory_mb.values()) / 1024
    fixed = {
        "snapstart_cache": cached_gb * SECONDS_PER_MONTH * prices["snapstart_cache_gb_second"].value,
        "custom_metrics": metric_series * prices["metrics_custom_month"].value,
    }
    if waf_rules is not None:
        fixed["waf"] = prices["waf_web_acl_month"].value + waf_rules * prices["waf_rule_month"].value
    return fixed


def postgres_for(peak_rps: float) -> tuple[str, int]:
    return next(((key, gb) for limit, key, gb in POSTGRES_TIERS if peak_rps <= limit), POSTGRES_TOP)


def redis_for(peak_rps: float) -> str:
    return next((key for limit, key in REDIS_TIERS if peak_rps <= limit), REDIS_TOP)


def serving_task_rps(prices: dict[str, Price]) -> float:
    """Requests per second one gateway task serves at the autoscaler's CPU target."""
    v = lambda key: prices[key].value  # noqa: E731
    return v("litellm_rps_per_vcpu") * v("litellm_task_vcpu") * v("litellm_cpu_target")


def litellm_monthly(calls_per_month: float, prices: dict[str, Price]) -> dict[str, float]:
    """USD a month for a LiteLLM deployment on ECS Fargate + RDS PostgreSQL + ElastiCache, sized by the peak rate."""

    def v(key: str) -> float:
        return prices[key].value

    average_rps = calls_per_month / SECONDS_PER_MONTH
    peak_rps = average_rps * v("peak_to_average")
    serving = max(int(v("litellm_min_tasks")), math.ceil(peak_rps / serving_task_rps(prices)))
    tasks = serving + int(v("litellm_jobs_tasks"))
    task_hour = v("litellm_task_vcpu") * v("fargate_vcpu_hour") + v("litellm_task_gib") * v("fargate_gb_hour")
    database, storage_gb = postgres_for(peak_rps)
    cache = redis_for(peak_rps)
    lcus = average_rps / v("alb_new_connections_per_lcu")
    return {
        "gateway_tasks": tasks * task_hour * HOURS_PER_MONTH,
        "public_ipv4": (tasks + 2) * v("public_ipv4_hour") * HOURS_PER_MONTH,
        "postgres": 2 * v(database) * HOURS_PER_MONTH + 2 * storage_gb * v("rds_gp3_gb_month"),
        "redis": 2 * v(cache) * HOURS_PER_MONTH,
        "load_balancer": v("alb_hour") * HOURS_PER_MONTH,
        "load_balancer_lcu": lcus * v("alb_lcu_hour") * HOURS_PER_MONTH,
        "secrets": v("litellm_secrets") * v("secrets_manager_secret_month"),
    }


def litellm_steps(prices: dict[str, Price]) -> list[tuple[float, str]]:
    """(calls a month, what changes) where LiteLLM's sizing first steps up: a serving task beyond the minimum, the
    next database and cache sizes."""
    to_calls = lambda rps: rps / prices["peak_to_average"].value * SECONDS_PER_MONTH  # noqa: E731
    minimum = prices["litellm_min_tasks"].value
    steps = [(to_calls(minimum * serving_task_rps(prices)), f"serving task {minimum + 1:g}")]
    steps += [(to_calls(POSTGRES_TIERS[0][0]), "next Postgres and Redis size (1000 RPS at peak)")]
    steps += [(to_calls(POSTGRES_TIERS[1][0]), "next Postgres size (5000 RPS at peak)")]
    return sorted(steps)


def break_even(airelay: Callable[[float], float], litellm: Callable[[float], float]) -> float | None:
    """The fewest calls a month at which airelay's bill reaches LiteLLM's (both without model tokens), between 1,000
    and 100 billion; None if it never does there. LiteLLM's bill steps, so the search scans before it bisects."""
    grid = [10 ** (3 + i / 20) for i in range(0, 8 * 20 + 1)]
    previous = grid[0]
    if airelay(previous) >= litellm(previous):
        return previous
    for calls in grid[1:]:
        if airelay(calls) >= litellm(calls):
            low, high = previous, calls
            for _ in range(60):
                middle = (low + high) / 2
                low, high = (low, middle) if airelay(middle) >= litellm(middle) else (middle, high)
            return high
        previous = calls
    return None
