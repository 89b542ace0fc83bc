"""Every environment variable airelay reads, in one place, typed, with defaults that work locally."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import lru_cache

LOCAL_ORIGINS = "http://127.0.0.1:8000,http://localhost:8000,http://localhost:3000,http://localhost:5173"


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    stage: str = field(default="local", metadata={"env": "AIRELAY_STAGE"})
    log_level: str = field(default="INFO", metadata={"env": "LOG_LEVEL"})
    allowed_origins: tuple[str, ...] = field(default=_list(LOCAL_ORIGINS), metadata={"env": "ALLOWED_ORIGINS"})
    max_body_bytes: int = field(default=262_144, metadata={"env": "MAX_BODY_BYTES"})

    chat_model: str = field(default="local/smollm2-135m", metadata={"env": "CHAT_MODEL"})
    allowed_chat_models: tuple[str, ...] = field(default=(), metadata={"env": "ALLOWED_CHAT_MODELS"})
    openai_base_url: str = field(default="", metadata={"env": "OPENAI_BASE_URL"})
    openai_api_key: str = field(default="", metadata={"env": "OPENAI_API_KEY"})
    openai_api_key_param: str = field(default="", metadata={"env": "OPENAI_API_KEY_PARAM"})
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

    @property
    def chat_models(self) -> tuple[str, ...]:
        """The models a client may ask for: the configured default first."""
        return (self.chat_model, *(m for m in self.allowed_chat_models if m != self.chat_model))

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ = os.environ) -> Settings:
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.default, raw)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if not 1 <= self.default_max_tokens <= self.max_tokens_cap:
            raise ValueError("DEFAULT_MAX_TOKENS must be between 1 and MAX_TOKENS_CAP")
        if self.stage == "prod" and "*" in self.allowed_origins:
            raise ValueError("ALLOWED_ORIGINS must list origins, not '*', in prod")


def _parse(name: str, default: object, raw: str) -> object:
    try:
        if isinstance(default, tuple):
            return _list(raw)
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"setting {name} has an invalid value") from None
    return raw.strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
