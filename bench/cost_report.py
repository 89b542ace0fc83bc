"""The cost benchmark's profiles (what a call of each capability uses), the evaluation at a traffic level, and its
outputs: the terminal table, bench/results/cost-*.json and the chart (docs with --docs, via cost_docs)."""

from __future__ import annotations

import json
from functools import cache

from . import cost_docs, cost_inputs, report
from .cost_model import (
    MILLION,
    SECONDS_PER_MONTH,
    CallProfile,
    Price,
    airelay_fixed,
    break_even,
    call_cost,
    litellm_monthly,
    litellm_steps,
)

# capability -> (function, the measured durations its own work adds up to, the models it calls: a role each)
CAPABILITIES = {
    "chat": ("ChatFunction", ("chat_overhead",), ("chat",)),
    "chat_stream": ("ChatFunction", ("stream_overhead",), ("chat",)),
    "sentiment": ("SentimentFunction", ("sentiment",), ("sentiment",)),
    "classify": ("ClassifyFunction", ("classify",), ("image",)),
    "faq": ("FaqFunction", ("faq_warm", "embed"), ("embedding",)),
    "faq_fallback": ("FaqFunction", ("faq_warm", "embed", "chat_overhead"), ("embedding", "chat")),
}
ROLE_SETTING = {
    "chat": "chat_model",
    "sentiment": "sentiment_model",
    "image": "image_model",
    "embedding": "faq_embedding_model",
}
ROW_FUNCTION = {
    "ChatFunction": "chat",
    "SentimentFunction": "sentiment",
    "ClassifyFunction": "classify",
    "FaqFunction": "faq",
}
LINES = (
    "lambda_requests",
    "lambda_duration",
    "snapstart_restore",
    "api_gateway",
    "dynamodb",
    "s3",
    "logs",
    "xray",
    "waf",
)


@cache
def ledger_call(settings, function: str, model_id: str, tokens: tuple[int, int]) -> cost_inputs.LedgerCall:
    from airelay.providers.base import Usage

    return cost_inputs.metered_call(settings, model_id, function, Usage(tokens[0], tokens[1], 0))


def role_usage(capability: str, role: str, settings, prices: dict[str, Price], args) -> tuple[str, tuple, float]:
    """The model a role calls, its (input, output) tokens, and how long the function waits for the model's answer."""
    model_id = getattr(settings, ROLE_SETTING[role])
    if role != "chat":
        return model_id, (30, 0), 0.0  # a text, an image, a question: the local models are free whatever the size
    prompt, answer = args.tokens[capability]
    prompt = prompt if prompt is not None else cost_inputs.faq_fallback_prompt(settings)
    wait = prices["model_ttft_ms"].value + answer / prices["model_tokens_per_second"].value * 1000
    return model_id, (prompt, answer), wait


def profiles(functions: dict, prices: dict[str, Price], durations: dict, args) -> tuple[dict, dict]:
    """A CallProfile per capability, and the details behind it (durations, tokens, ledger calls) for the report."""
    from airelay.providers.base import Usage
    from airelay.usage.pricing import load_prices

    access_bytes = cost_inputs.api_features(cost_inputs.template()).access_log_bytes
    round_trip_ms = prices["dynamodb_round_trip_ms"].value
    built, details = {}, {}
    for capability, (function, own, roles) in CAPABILITIES.items():
        settings, memory = functions[function]["settings"], functions[function]["memory_mb"]
        book = load_prices(settings.model_prices)
        scale = max(1.0, prices["lambda_mb_per_vcpu"].value / memory) * args.cpu_factor
        compute = sum(durations[name].ms for name in own)
        wait, token_usd, calls, tokens = 0.0, 0.0, [], {}
        for role in roles:
            model_id, used, model_wait = role_usage(capability, role, settings, prices, args)
            call = ledger_call(settings, ROW_FUNCTION[function], model_id, used)
            wait += model_wait + (0.0 if durations[own[0]].ledger_included else call.round_trips * round_trip_ms)
            token_usd += float(book.price(model_id).cost(Usage(used[0], used[1], 0)))
            calls.append(call)
            tokens[model_id] = used
        billed = compute * scale + wait
        log_bytes = cost_inputs.platform_log_bytes(memory, billed) + access_bytes
        log_bytes += sum(c.emf_bytes for c in calls) if functions[function]["metrics"] else 0
        first = (durations.get(f"first_extra:{function}") or durations["first_extra"]).ms
        restore = (durations.get(f"restore:{function}") or durations["restore"]).ms
        built[capability] = CallProfile(
            capability=capability,
            function=function,
            memory_mb=memory,
            billed_ms=billed,
            write_units=sum(c.write_units for c in calls),
            stored_bytes=sum(c.row_bytes for c in calls),
            retention_days=settings.usage_retention_days,
            log_bytes=log_bytes,
            token_usd=token_usd,
            etag_check_s=settings.faq_reload_check_s if settings.faq_index_url.startswith("s3://") else None,
            restore_ms=restore * scale,
            first_extra_ms=first * scale,
        )
        details[capability] = {
            "compute_ms": compute,
            "cpu_scale": scale,
            "wait_ms": wait,
            "tokens": tokens,
            "ledger_calls": [c.__dict__ for c in calls],
            "metric_series": sorted({(ROW_FUNCTION[function], m) for m in tokens}),
            "emf_metrics": max((c.emf_metrics for c in calls), default=0),
        }
    return built, details


def route_mix(mix: dict[str, float], fallback_share: float) -> dict[str, float]:
    unknown = set(mix) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capabilities in --mix: {', '.join(sorted(unknown))}")
    total = sum(mix.values())
    shares = {name: share / total for name, share in mix.items()}
    faq = shares.pop("faq", 0.0)
    shares["faq"], shares["faq_fallback"] = (
        faq * (1 - fallback_share),
        faq * fallback_share + shares.get("faq_fallback", 0.0),
    )
    return {name: share for name, share in shares.items() if share > 0}


def evaluate(built: dict, details: dict, functions: dict, prices: dict, mix: dict, args) -> dict:
    api = cost_inputs.api_features(cost_inputs.template())
    waf_rules = args.waf_rules if args.waf_rules is not None else api.waf_rules
    series = {pair for d in details.values() for pair in map(tuple, d["metric_series"])}
    per_document = max(d["emf_metrics"] for d in details.values())
    fixed = airelay_fixed(
        {n: f["memory_mb"] for n, f in functions.items()}, len(series) * per_document, prices, waf_rules
    )

    def per_call(capability: str, calls: float, share: float) -> dict[str, float]:
        api_rps = calls / SECONDS_PER_MONTH
        return call_cost(built[capability], prices, api_rps, api_rps * share, waf_rules is not None, api.tracing)

    def airelay_total(calls: float, shares: dict[str, float]) -> float:
        return sum(fixed.values()) + calls * sum(s * sum(per_call(c, calls, s).values()) for c, s in shares.items())

    def litellm_total(calls: float) -> float:
        return sum(litellm_monthly(calls, prices).values())

    level = args.calls_per_month
    capabilities = {}
    for capability, profile in built.items():
        lines = per_call(capability, level, mix.get(capability, 0.0))
        capabilities[capability] = {
            "function": profile.function,
            "memory_mb": profile.memory_mb,
            "billed_ms": round(profile.billed_ms, 1),
            "write_units": profile.write_units,
            "log_bytes": profile.log_bytes,
            "share": mix.get(capability, 0.0),
            "per_million": {k: lines[k] * MILLION for k in LINES},
            "infra_per_million": sum(lines.values()) * MILLION,
            "tokens_per_million": profile.token_usd * MILLION,
            "break_even_calls": break_even(lambda n, c=capability: airelay_total(n, {c: 1.0}), litellm_total),
            **details[capability],
        }
    litellm = litellm_monthly(level, prices)
    mix_infra = sum(s * capabilities[c]["infra_per_million"] for c, s in mix.items()) / MILLION
    mix_tokens = sum(s * capabilities[c]["tokens_per_million"] for c, s in mix.items()) / MILLION
    grid = [10 ** (5 + i / 20) for i in range(0, 101)]
    return {
        "benchmark": "cost",
        "calls_per_month": level,
        "mix": mix,
        "capabilities": capabilities,
        "airelay": {
            "fixed_monthly": fixed,
            "mix_infra_per_million": mix_infra * MILLION,
            "mix_tokens_per_million": mix_tokens * MILLION,
            "monthly": airelay_total(level, mix),
        },
        "litellm": {
            "monthly": litellm,
            "total": sum(litellm.values()),
            "steps": litellm_steps(prices),
            "reached_at": {line: usd / mix_infra for line, usd in litellm.items() if line != "load_balancer_lcu"},
        },
        "break_even_calls": break_even(lambda n: airelay_total(n, mix), litellm_total),
        "series": [
            {"calls": n, "airelay": airelay_total(n, mix), "litellm": litellm_total(n), "tokens": n * mix_tokens}
            for n in grid
        ],
    }


def money(usd: float) -> str:
    if usd == 0:
        return "$0"
    return f"${usd:,.0f}" if usd >= 100 else f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.4f}"


def calls(n: float | None) -> str:
    if n is None:
        return "never (below 100 bn)"
    return f"{n / 1e9:.3g} bn" if n >= 1e9 else f"{n / 1e6:.3g} M" if n >= 1e6 else f"{n / 1e3:.3g} k"


def text(document: dict) -> str:
    headers, rows = cost_docs.capability_table(document, money, calls)
    lines = [
        f"AWS bill per million calls at {calls(document['calls_per_month'])} calls a month (us-east-1; tokens apart)",
        *report.aligned(headers, rows, 3),
        "",
        *cost_docs.summary_lines(document, money, calls),
    ]
    return "\n".join(lines)


def write(document: dict, docs: bool) -> None:
    report.RESULTS.mkdir(exist_ok=True)
    moment = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    data = json.dumps(document, indent=2, default=str) + "\n"
    for name in (f"cost-{moment}.json", "cost-latest.json"):
        (report.RESULTS / name).write_text(data)
    document["chart"] = str(cost_docs.chart(document, report.RESULTS / "cost-by-traffic.png"))
    if docs:
        cost_docs.rewrite(document, money, calls)
