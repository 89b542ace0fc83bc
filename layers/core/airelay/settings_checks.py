"""The checks Settings.from_env makes at start. Each error names the environment variable and never repeats its value
(some values are secrets)."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .visitors import address_group

if TYPE_CHECKING:
    from .settings import Settings

STAGES = ("local", "dev", "prod")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
IMAGE_MEDIA_TYPES = frozenset(("image/jpeg", "image/png", "image/webp", "image/gif"))  # what chat can pass on
SYSTEM_PROMPT_POLICIES = {"pass", "prepend", "refuse"}
# what a browser sends as its Origin header: scheme://host[:port], never a path (not even "/")
ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[^\s/?#@:\[\]]+)(:[0-9]{1,5})?", re.IGNORECASE)

# 0 would refuse every request these apply to, or (USAGE_RETENTION_DAYS) let call rows and budget leases expire at
# once; USAGE_SHARDS counts partitions
AT_LEAST_ONE = (
    "MAX_BODY_BYTES",
    "CHAT_BODY_MAX_BYTES",
    "CLIENT_TOOL_OUTPUT_MAX_CHARS",
    "MESSAGE_MAX_CHARS",
    "CHAT_FILE_MAX_BYTES",
    "USAGE_RETENTION_DAYS",
    "USAGE_SHARDS",
    "FAQ_QUESTION_MAX_CHARS",
    "SENTIMENT_TEXT_MAX_CHARS",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_PIXELS",
)
ZERO_SECONDS_ALLOWED = ("FAQ_RELOAD_CHECK_S",)  # 0: the index's version is checked on every request


def check(settings: Settings) -> None:
    """Raises ValueError, naming the variable, for the first value no request could be served with."""
    if settings.stage not in STAGES:
        raise ValueError("AIRELAY_STAGE must be local, dev or prod")
    check_origins(settings.allowed_origins, settings.stage)
    check_access(settings)
    check_chat(settings)
    if settings.log_level.upper() not in LOG_LEVELS:
        raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    if not 0 <= settings.responses_store_hours <= 24 * 30:
        raise ValueError("RESPONSES_STORE_HOURS must be between 0 and 720")
    if not 1 <= settings.faq_top_k_default <= settings.faq_top_k_max:
        raise ValueError("FAQ_TOP_K_DEFAULT must be between 1 and FAQ_TOP_K_MAX")
    settings.faq_threshold_overrides  # noqa: B018 - parses FAQ_THRESHOLDS, raising ValueError if malformed
    parse_identity_budgets(settings.identity_budgets)
    check_numbers({f.metadata["env"]: getattr(settings, f.name) for f in fields(settings)})


def check_numbers(values: dict[str, object]) -> None:
    """No number setting has a meaning below 0, NaN or infinite; a duration (`*_S`, `*_SECONDS`) is more than 0."""
    for env, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            continue
        if env.endswith(("_S", "_SECONDS")) and env not in ZERO_SECONDS_ALLOWED and not (finite(value) and value > 0):
            raise ValueError(f"{env} must be a finite number of seconds, more than 0")
        if env in AT_LEAST_ONE and not value >= 1:
            raise ValueError(f"{env} must be at least 1")
        if not (finite(value) and value >= 0):
            raise ValueError(f"{env} must be a finite number, 0 or more")


def finite(value: int | float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def check_origins(origins: tuple[str, ...], stage: str) -> None:
    if not all(o == "*" or ORIGIN.fullmatch(o) for o in origins):
        raise ValueError("ALLOWED_ORIGINS entries are origins, scheme://host[:port] with no path (no trailing /), or *")
    if stage == "prod" and "*" in origins:
        raise ValueError("ALLOWED_ORIGINS must list origins, not '*', in prod")
    if stage == "prod" and not all(o.lower().startswith("https://") for o in origins):
        raise ValueError("ALLOWED_ORIGINS must be https:// origins in prod")


def check_access(settings: Settings) -> None:
    """API keys, sign-in, operators and visitor tokens."""
    names = set(settings.api_key_names.values())  # parses API_KEYS, raising ValueError if malformed
    if settings.jwt_issuer and not settings.jwt_audience:
        raise ValueError("JWT_AUDIENCE is required with JWT_ISSUER")
    if settings.operator_claim_rule and not settings.jwt_issuer:
        raise ValueError("OPERATOR_CLAIM needs sign-in (JWT_ISSUER)")
    if settings.api_keys and not set(settings.operator_keys) <= names:
        raise ValueError("OPERATOR_KEYS must name entries of API_KEYS")
    if settings.api_keys and not set(settings.server_keys) <= names:
        raise ValueError("SERVER_KEYS must name entries of API_KEYS")
    if settings.visitor_token_secret and len(settings.visitor_token_secret.encode()) < 32:
        raise ValueError("VISITOR_TOKEN_SECRET must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
    if not 60 <= settings.visitor_token_max_ttl_s <= 86_400:
        raise ValueError("VISITOR_TOKEN_MAX_TTL_S must be between 60 and 86400")


def check_chat(settings: Settings) -> None:
    """Models, tokens, files, system prompts and tools."""
    base_url = settings.openai_base_url.lower()
    if settings.stage == "prod" and base_url and not base_url.startswith("https://"):
        raise ValueError("OPENAI_BASE_URL must be an https:// URL in prod")
    if not 1 <= settings.default_max_tokens <= settings.max_tokens_cap:
        raise ValueError("DEFAULT_MAX_TOKENS must be between 1 and MAX_TOKENS_CAP")
    if not set(settings.chat_file_media_types) <= IMAGE_MEDIA_TYPES:
        raise ValueError(f"CHAT_FILE_MEDIA_TYPES may list only {', '.join(sorted(IMAGE_MEDIA_TYPES))}")
    policies = [settings.system_prompt_policy, *(i.partition("=")[2].strip() for i in settings.system_prompt_policies)]
    if not set(policies) <= SYSTEM_PROMPT_POLICIES or not all("=" in i for i in settings.system_prompt_policies):
        raise ValueError("SYSTEM_PROMPT_POLICY is pass, prepend or refuse; SYSTEM_PROMPT_POLICIES name=policy,...")
    settings.persona_tools  # noqa: B018 - parses CHAT_TOOLS, raising ValueError if malformed
    if settings.tool_proof_secret and len(settings.tool_proof_secret) < 32:
        raise ValueError("TOOL_PROOF_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    proof_secret = settings.tool_proof_secret or settings.tool_proof_secret_param
    if settings.stage == "prod" and settings.chat_tools and not proof_secret:
        raise ValueError("TOOL_PROOF_SECRET or TOOL_PROOF_SECRET_PARAM is required in prod when CHAT_TOOLS is set")
    if not 1 <= settings.chat_max_steps <= 20:
        raise ValueError("CHAT_MAX_STEPS must be between 1 and 20")


def parse_identity_budgets(text: str) -> dict[str, Decimal]:
    """IDENTITY_BUDGETS `ip:203.0.113.7=5,key:abc123=20` -> {identity: daily limit in USD}. A visitor's entry without
    `@<key id>` covers that visitor behind any key (see usage.limits.LimitBook.limits_for). An `ip:` entry is kept as
    the visitor's identity names its address (visitor_address), so that it matches."""
    limits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        identity, _, amount = item.rpartition("=")
        identity = identity.strip()
        try:
            usd = Decimal(amount.strip())
        except InvalidOperation:
            usd = Decimal("NaN")
        if not identity or not usd.is_finite() or usd < 0:
            raise ValueError("IDENTITY_BUDGETS entries look like identity=USD (0 or more), e.g. ip:203.0.113.7=5")
        if identity.startswith("ip:"):
            address, at, key = identity.removeprefix("ip:").partition("@")
            identity = f"ip:{visitor_address(address)}{at}{key.strip()}"
        limits[identity] = usd
    return limits


def visitor_address(text: str) -> str:
    """An address or network as a visitor without a token is known by (visitors.address_group): an IPv4 address as
    it is, IPv6 by the /64 it lies in. A network wider than that, or a zone (`fe80::1%eth0`), never matches one."""
    try:
        network = None if "%" in text else ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        network = None
    if network and network.num_addresses == 1:
        return address_group(str(network.network_address))
    if network and network.version == 6 and network.prefixlen >= 64 and network.network_address.ipv4_mapped is None:
        return str(network.supernet(new_prefix=64))
    raise ValueError(
        "IDENTITY_BUDGETS ip: entries name an IPv4 address, or an IPv6 address or network of /64 or narrower"
        " (a visitor without a token is known by its address, an IPv6 one by its /64)"
    )
