"""Every environment variable airelay reads, in one place, typed, with defaults that work locally."""

from __future__ import annotations

import os
from dataclasses import Field, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from . import settings_checks

SWITCHES = dict.fromkeys(("1", "true", "yes", "on"), True) | dict.fromkeys(("0", "false", "no", "off"), False)
EXPECTED = {
    bool: "1, true, yes, on, 0, false, no or off",
    int: "a whole number",
    float: "a number",
    Decimal: "a number",
}
LOCAL_ORIGINS = "http://127.0.0.1:8000,http://localhost:8000,http://localhost:3000,http://localhost:5173"


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    stage: str = field(default="local", metadata={"env": "AIRELAY_STAGE"})
    log_level: str = field(default="INFO", metadata={"env": "LOG_LEVEL"})
    metrics_namespace: str = field(default="Airelay", metadata={"env": "POWERTOOLS_METRICS_NAMESPACE"})
    allowed_origins: tuple[str, ...] = field(default=_list(LOCAL_ORIGINS), metadata={"env": "ALLOWED_ORIGINS"})
    max_body_bytes: int = field(default=262_144, metadata={"env": "MAX_BODY_BYTES"})
    # /api/chat/stream's: useChat posts every earlier message again, with its files (data: URLs)
    chat_body_max_bytes: int = field(default=5_242_880, metadata={"env": "CHAT_BODY_MAX_BYTES"})
    body_read_timeout_s: float = field(default=10.0, metadata={"env": "BODY_READ_TIMEOUT_S"})
    api_keys: tuple[str, ...] = field(default=(), metadata={"env": "API_KEYS"})
    jwt_issuer: str = field(default="", metadata={"env": "JWT_ISSUER"})
    jwt_audience: str = field(default="", metadata={"env": "JWT_AUDIENCE"})
    jwt_jwks_url: str = field(default="", metadata={"env": "JWT_JWKS_URL"})
    operator_keys: tuple[str, ...] = field(default=(), metadata={"env": "OPERATOR_KEYS"})
    operator_claim: str = field(default="", metadata={"env": "OPERATOR_CLAIM"})
    # keys held by a trusted backend, never shipped to a browser: their calls are filed under the key itself
    server_keys: tuple[str, ...] = field(default=(), metadata={"env": "SERVER_KEYS"})
    visitor_token_secret: str = field(default="", metadata={"env": "VISITOR_TOKEN_SECRET"})
    visitor_token_secret_param: str = field(default="", metadata={"env": "VISITOR_TOKEN_SECRET_PARAM"})
    visitor_token_audience: str = field(default="airelay", metadata={"env": "VISITOR_TOKEN_AUDIENCE"})
    visitor_token_max_ttl_s: int = field(default=3600, metadata={"env": "VISITOR_TOKEN_MAX_TTL_S"})
    lambda_exec_wrapper: str = field(default="", metadata={"env": "AWS_LAMBDA_EXEC_WRAPPER"})
    # where the Lambda Web Adapter POSTs around a SnapStart snapshot (the chat function; airelay/snapstart.py)
    lwa_before_checkpoint_path: str = field(default="", metadata={"env": "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"})
    lwa_after_restore_path: str = field(default="", metadata={"env": "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"})

    chat_model: str = field(default="local/smollm2-135m", metadata={"env": "CHAT_MODEL"})
    allowed_chat_models: tuple[str, ...] = field(default=(), metadata={"env": "ALLOWED_CHAT_MODELS"})
    chat_fallback_models: tuple[str, ...] = field(default=(), metadata={"env": "CHAT_FALLBACK_MODELS"})
    openai_base_url: str = field(default="", metadata={"env": "OPENAI_BASE_URL"})
    openai_api_key: str = field(default="", metadata={"env": "OPENAI_API_KEY"})
    openai_api_key_param: str = field(default="", metadata={"env": "OPENAI_API_KEY_PARAM"})
    # sent as OpenAI-Organization / OpenAI-Project, as the OpenAI SDK sends them (the embedders' SDK reads them itself)
    openai_org_id: str = field(default="", metadata={"env": "OPENAI_ORG_ID"})
    openai_project_id: str = field(default="", metadata={"env": "OPENAI_PROJECT_ID"})
    chat_max_steps: int = field(default=5, metadata={"env": "CHAT_MAX_STEPS"})
    # persona=tool+tool,...: the server-side tools each persona's chat may call (airelay/tools/)
    chat_tools: tuple[str, ...] = field(default=(), metadata={"env": "CHAT_TOOLS"})
    tools_module: str = field(default="", metadata={"env": "TOOLS_MODULE"})  # an operator's module with TOOLS
    tool_proof_secret: str = field(default="", metadata={"env": "TOOL_PROOF_SECRET"})
    tool_proof_secret_param: str = field(default="", metadata={"env": "TOOL_PROOF_SECRET_PARAM"})
    client_tool_output_max_chars: int = field(default=16_000, metadata={"env": "CLIENT_TOOL_OUTPUT_MAX_CHARS"})
    local_model_base_url: str = field(default="http://127.0.0.1:8081/v1", metadata={"env": "LOCAL_MODEL_BASE_URL"})

    upstream_timeout_s: float = field(default=25.0, metadata={"env": "UPSTREAM_TIMEOUT_S"})
    upstream_connect_timeout_s: float = field(default=3.0, metadata={"env": "UPSTREAM_CONNECT_TIMEOUT_S"})
    upstream_max_retries: int = field(default=2, metadata={"env": "UPSTREAM_MAX_RETRIES"})
    stream_idle_timeout_s: float = field(default=30.0, metadata={"env": "STREAM_IDLE_TIMEOUT_S"})
    stream_deadline_s: float = field(default=300.0, metadata={"env": "STREAM_DEADLINE_S"})

    max_tokens_cap: int = field(default=1024, metadata={"env": "MAX_TOKENS_CAP"})
    default_max_tokens: int = field(default=512, metadata={"env": "DEFAULT_MAX_TOKENS"})
    message_max_chars: int = field(default=8000, metadata={"env": "MESSAGE_MAX_CHARS"})
    history_max_turns: int = field(default=20, metadata={"env": "HISTORY_MAX_TURNS"})
    history_max_chars: int = field(default=24000, metadata={"env": "HISTORY_MAX_CHARS"})
    chat_files_max: int = field(default=4, metadata={"env": "CHAT_FILES_MAX"})
    chat_file_max_bytes: int = field(default=921_600, metadata={"env": "CHAT_FILE_MAX_BYTES"})
    chat_file_media_types: tuple[str, ...] = field(
        default=("image/jpeg", "image/png", "image/webp", "image/gif"), metadata={"env": "CHAT_FILE_MEDIA_TYPES"}
    )
    vision_chat_models: tuple[str, ...] = field(
        default=(
            "openai/gpt-4o-mini",
            "openai/gpt-4o",
            "openai/gpt-4.1",
            "openai/gpt-4.1-mini",
            "openai/gpt-4.1-nano",
            "openai/gpt-5",
            "openai/gpt-5-mini",
        ),
        metadata={"env": "VISION_CHAT_MODELS"},
    )
    # the OpenAI-compatible endpoints (airelay/openai_api): what to do with a client's system messages, globally and
    # per API key name (`name=policy,...`): pass them on, prepend the server's prompt, or refuse the request
    system_prompt_policy: str = field(default="pass", metadata={"env": "SYSTEM_PROMPT_POLICY"})
    system_prompt_policies: tuple[str, ...] = field(default=(), metadata={"env": "SYSTEM_PROMPT_POLICIES"})
    embedding_models: tuple[str, ...] = field(default=("local/use-multilingual",), metadata={"env": "EMBEDDING_MODELS"})
    # chat models that cannot answer to a JSON schema: a request with one skips them in the fallback chain
    no_structured_output_models: tuple[str, ...] = field(default=(), metadata={"env": "NO_STRUCTURED_OUTPUT_MODELS"})
    # /v1/responses output items kept for `item_reference` (store: true): a DynamoDB table on AWS, else
    # responses.sqlite3 beside USAGE_DB_PATH; 0 hours keeps none, and a request that asks to store is refused
    responses_table: str = field(default="", metadata={"env": "RESPONSES_TABLE"})
    responses_store_hours: int = field(default=24, metadata={"env": "RESPONSES_STORE_HOURS"})

    aws_connect_timeout_s: float = field(default=1.0, metadata={"env": "AIRELAY_AWS_CONNECT_TIMEOUT_S"})
    aws_read_timeout_s: float = field(default=2.0, metadata={"env": "AIRELAY_AWS_READ_TIMEOUT_S"})

    usage_table: str = field(default="", metadata={"env": "USAGE_TABLE"})
    usage_db_path: str = field(default=".airelay/usage.sqlite3", metadata={"env": "USAGE_DB_PATH"})
    usage_retention_days: int = field(default=90, metadata={"env": "USAGE_RETENTION_DAYS"})
    usage_shards: int = field(default=1, metadata={"env": "USAGE_SHARDS"})
    budget_leases: bool = field(default=False, metadata={"env": "BUDGET_LEASES"})
    lease_seconds: float = field(default=30.0, metadata={"env": "LEASE_SECONDS"})
    daily_budget_usd: Decimal = field(default=Decimal("10"), metadata={"env": "DAILY_BUDGET_USD"})
    identity_daily_budget_usd: Decimal = field(default=Decimal("1"), metadata={"env": "IDENTITY_DAILY_BUDGET_USD"})
    identity_budgets: str = field(default="", metadata={"env": "IDENTITY_BUDGETS"})
    requests_per_minute: int = field(default=0, metadata={"env": "REQUESTS_PER_MINUTE"})  # 0: not limited
    tokens_per_minute: int = field(default=0, metadata={"env": "TOKENS_PER_MINUTE"})
    # anonymous visitors: identities of these kinds (the part before the first colon) have limits of their own
    visitor_kinds: tuple[str, ...] = field(default=("ip", "visitor"), metadata={"env": "VISITOR_KINDS"})
    # (locally off; template.yaml's Parameters give a deployed app its limits for anonymous visitors)
    visitor_daily_budget_usd: Decimal = field(default=Decimal("1"), metadata={"env": "VISITOR_DAILY_BUDGET_USD"})
    visitor_requests_per_minute: int = field(default=0, metadata={"env": "VISITOR_REQUESTS_PER_MINUTE"})
    visitor_tokens_per_minute: int = field(default=0, metadata={"env": "VISITOR_TOKENS_PER_MINUTE"})
    model_prices: str = field(default="", metadata={"env": "MODEL_PRICES"})
    usd_krw_rate: Decimal = field(default=Decimal("1400"), metadata={"env": "USD_KRW_RATE"})

    faq_index_url: str = field(default="file://.airelay/faq-index.bin", metadata={"env": "FAQ_INDEX_URL"})
    faq_embedding_model: str = field(default="local/use-multilingual", metadata={"env": "FAQ_EMBEDDING_MODEL"})
    faq_thresholds: tuple[str, ...] = field(default=(), metadata={"env": "FAQ_THRESHOLDS"})
    faq_reload_check_s: float = field(default=30.0, metadata={"env": "FAQ_RELOAD_CHECK_S"})
    faq_question_max_chars: int = field(default=500, metadata={"env": "FAQ_QUESTION_MAX_CHARS"})
    faq_top_k_default: int = field(default=3, metadata={"env": "FAQ_TOP_K_DEFAULT"})
    faq_top_k_max: int = field(default=10, metadata={"env": "FAQ_TOP_K_MAX"})
    faq_embed_cache_size: int = field(default=256, metadata={"env": "FAQ_EMBED_CACHE_SIZE"})
    faq_source_prefix: str = field(default="source/", metadata={"env": "FAQ_SOURCE_PREFIX"})
    faq_index_float16: bool = field(default=False, metadata={"env": "FAQ_INDEX_FLOAT16"})

    sentiment_model: str = field(default="local/use-multilingual-anchors", metadata={"env": "SENTIMENT_MODEL"})
    sentiment_text_max_chars: int = field(default=2000, metadata={"env": "SENTIMENT_TEXT_MAX_CHARS"})
    image_model: str = field(default="local/efficientnet-lite0", metadata={"env": "IMAGE_MODEL"})
    image_model_path: str = field(default="", metadata={"env": "IMAGE_MODEL_PATH"})
    # what Lambda's 6 MB request payload holds of an image sent base64-encoded (JSON, or multipart through API Gateway)
    image_max_bytes: int = field(default=4_400_000, metadata={"env": "IMAGE_MAX_BYTES"})
    image_max_pixels: int = field(default=16_000_000, metadata={"env": "IMAGE_MAX_PIXELS"})
    image_fetch_timeout_s: float = field(default=10.0, metadata={"env": "IMAGE_FETCH_TIMEOUT_S"})
    image_max_redirects: int = field(default=3, metadata={"env": "IMAGE_MAX_REDIRECTS"})
    hf_token: str = field(default="", metadata={"env": "HF_TOKEN"})
    hf_token_param: str = field(default="", metadata={"env": "HF_TOKEN_PARAM"})
    hf_base_url: str = field(default="https://router.huggingface.co/hf-inference", metadata={"env": "HF_BASE_URL"})

    @property
    def chat_models(self) -> tuple[str, ...]:
        """The models a client may ask for: the configured default first."""
        return (self.chat_model, *(m for m in self.allowed_chat_models if m != self.chat_model))

    @property
    def api_key_names(self) -> dict[str, str]:
        """API_KEYS `name=key,...` -> {key: name}."""
        keys = {}
        for item in self.api_keys:
            name, sep, key = item.partition("=")
            if not sep or not name.strip() or len(key.strip()) < 16:
                raise ValueError("API_KEYS entries look like name=key, with keys of at least 16 characters")
            keys[key.strip()] = name.strip()
        return keys

    @property
    def behind_web_adapter(self) -> bool:
        """Run by the Lambda Web Adapter (the chat function on AWS), which sets x-amzn-request-context itself."""
        return self.lambda_exec_wrapper == "/opt/bootstrap"

    @property
    def operator_claim_rule(self) -> tuple[str, str] | None:
        """OPERATOR_CLAIM `claim=value` -> (claim, value): a signed-in user whose claim holds the value is an operator."""
        if not self.operator_claim:
            return None
        claim, sep, value = self.operator_claim.partition("=")
        if not sep or not claim.strip() or not value.strip():
            raise ValueError("OPERATOR_CLAIM looks like claim=value, e.g. cognito:groups=airelay-operators")
        return claim.strip(), value.strip()

    def system_prompt_policy_of(self, key_name: str) -> str:
        """The system prompt policy for a caller's API key name (SYSTEM_PROMPT_POLICIES), else the global one."""
        for item in self.system_prompt_policies:
            name, _, policy = item.partition("=")
            if name.strip() == key_name:
                return policy.strip()
        return self.system_prompt_policy

    def fallback_chain(self, model_id: str) -> tuple[str, ...]:
        """The model a request asked for (or the default), then the fallbacks, each once."""
        return (model_id, *(m for m in self.chat_fallback_models if m != model_id))

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ = os.environ) -> Settings:
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuses, naming the variable, a value no request could be served with (settings_checks.py)."""
        settings_checks.check(self)

    @property
    def persona_tools(self) -> dict[str, tuple[str, ...]]:
        """CHAT_TOOLS `persona=tool+tool,...` -> {persona: (tool, ...)}."""
        chosen = {}
        for item in self.chat_tools:
            persona, sep, names = item.partition("=")
            tools = tuple(n.strip() for n in names.split("+") if n.strip())
            if not sep or not persona.strip() or not tools:
                raise ValueError("CHAT_TOOLS entries look like persona=tool+tool, e.g. assistant=search_faq")
            chosen[persona.strip()] = tools
        return chosen

    @property
    def faq_threshold_overrides(self) -> dict[str, float]:
        """FAQ_THRESHOLDS: `model=score` pairs that replace the per-model table in data/faq/bot.json."""
        overrides = {}
        for item in self.faq_thresholds:
            model, sep, value = item.rpartition("=")
            try:
                score = float(value)
            except ValueError:
                score = None
            if not sep or not model.strip() or score is None or not -1 <= score <= 1:
                raise ValueError("FAQ_THRESHOLDS entries look like model=score, e.g. local/use-multilingual=0.6")
            overrides[model.strip()] = score
        return overrides


def _parse(f: Field, raw: str) -> object:
    """The variable's text as the type of the field's default; an error names the variable, never the value."""
    text, kind = raw.strip(), type(f.default)
    try:
        if kind is tuple:
            return _list(text)
        if kind is bool:
            return SWITCHES[text.lower()]
        if kind in (Decimal, int, float):
            return kind(text)
    except (ValueError, KeyError, InvalidOperation):
        raise ValueError(f"{f.metadata['env']} (setting {f.name}) has an invalid value: {EXPECTED[kind]}") from None
    return text


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
