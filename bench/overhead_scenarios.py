"""The overhead benchmark's scenarios and what each side is sent: the OpenAI request (directly, through LiteLLM,
the bare relay and airelay's /v1) or airelay's own /api/chat, what counts as a complete answer, and airelay's
environment and key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from .client import Reply, post_request
from .load import Target
from .servers import HOST, ROOT

MODEL = "bench-model"
MESSAGE = "Say hello in one short sentence."
MAX_TOKENS = 64
CHUNKS = 20
PERSONAS = ROOT / "layers" / "core" / "airelay" / "data" / "personas.json"
# The bench model is priced like gpt-4o-mini (USD per 1M tokens) so that usage metering runs as for a paid model, in
# airelay and in LiteLLM alike; airelay's ledger is a fresh file per run and its budgets are out of reach.
PRICE = {"input": "0.15", "cached_input": "0.075", "output": "0.60"}
# Both gateways authenticate the caller by key and file its spend under it: airelay with API_KEYS (which API Gateway
# checks on AWS, the local API itself here) named in SERVER_KEYS, LiteLLM with its master key.
AIRELAY_KEY = {"x-api-key": "sk-bench-" + secrets.token_hex(16)}
AIRELAY_BEARER = {"authorization": f"Bearer {AIRELAY_KEY['x-api-key']}"}  # how OpenAI clients send the same key


def airelay_env(ledger_dir: str, overrides: list[str]) -> dict[str, str]:
    env = {
        "MODEL_PRICES": json.dumps({f"openai/{MODEL}": PRICE}),
        "USAGE_DB_PATH": f"{ledger_dir}/usage.sqlite3",
        "USAGE_TABLE": "",
        "DAILY_BUDGET_USD": "1000000",
        "IDENTITY_DAILY_BUDGET_USD": "1000000",
        "API_KEYS": f"bench={AIRELAY_KEY['x-api-key']}",
        "SERVER_KEYS": "bench",  # a server's key, like LiteLLM's master key: its calls are filed under the key
        # each call's EMF metrics document written, as on AWS; revisions before Powertools named the switch
        # AIRELAY_METRICS (off unless set), so a --before tree writes its metrics too
        "POWERTOOLS_METRICS_DISABLED": "false",
        "AIRELAY_METRICS": "true",
    }
    for item in overrides:
        name, _, value = item.partition("=")
        env[name] = value
    return env


@dataclass(frozen=True)
class Scenario:
    key: str
    stream: bool
    concurrency: int
    upstream_delay_s: float

    @property
    def timed(self) -> bool:
        """c=1 runs stop after --requests (or --seconds); the others run for --seconds and are judged on req/s."""
        return self.concurrency > 1

    @property
    def title(self) -> str:
        kind = f"stream ({CHUNKS} chunks)" if self.stream else "buffered"
        upstream = f"{self.upstream_delay_s * 1000:g} ms upstream" if self.upstream_delay_s else "instant upstream"
        return f"{kind}, c={self.concurrency}, {upstream}"

    @property
    def latency(self) -> str:
        """The latency a user feels: time to first token for a stream, the whole answer otherwise."""
        return "first_text" if self.stream else "total"


SCENARIOS = tuple(
    Scenario(f"{'stream' if stream else 'buffered'}_c{c}{'_50ms' if delay else ''}", stream, c, delay)
    for delay in (0.0, 0.05)
    for c in (1, 16, 64)
    for stream in (False, True)
    if not (delay and c == 1)
)


def direct_payload(stream: bool) -> dict:
    """The OpenAI request airelay itself sends for MESSAGE: its system prompt, the message, same max_tokens."""
    system = json.loads(PERSONAS.read_text("utf-8"))["assistant"]["system"]
    payload = {
        "model": MODEL,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": MESSAGE}],
    }
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    return payload


def openai_target(name: str, port: int, stream: bool, headers: dict[str, str] | None = None) -> Target:
    """The upstream itself, or LiteLLM (an OpenAI-compatible proxy): the same request, answered in the same format."""
    request = post_request(HOST, port, "/v1/chat/completions", direct_payload(stream), headers)
    if stream:
        return Target(name, port, request, ends_with_done, first_text=has_delta_content)
    return Target(name, port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


def airelay_target(port: int, stream: bool, route: str, name: str = "airelay") -> Target:
    if route == "v1":  # the OpenAI-compatible route: the direct call's request, answered in the same format
        return openai_target(name, port, stream, AIRELAY_BEARER)
    payload = {"message": MESSAGE, "max_tokens": MAX_TOKENS}
    if stream:
        request = post_request(HOST, port, "/api/chat/stream", payload, AIRELAY_KEY)
        return Target(
            name,
            port,
            request,
            lambda r: ends_with_done(r) and b'"type":"finish"' in r.body,
            first_text=lambda event: event.get("type") == "text-delta",
        )
    request = post_request(HOST, port, "/api/chat", payload, AIRELAY_KEY)
    return Target(name, port, request, lambda r: r.status == 200 and b'"finish_reason":"stop"' in r.body)


def ends_with_done(reply: Reply) -> bool:
    return reply.status == 200 and reply.body.endswith(b"data: [DONE]\n\n")


def has_delta_content(chunk: dict) -> bool:
    choices = chunk.get("choices") or ()
    return bool(choices and (choices[0].get("delta") or {}).get("content"))
