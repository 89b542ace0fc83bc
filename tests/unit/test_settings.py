from pathlib import Path

import pytest

from airelay.settings import Settings


def test_defaults_work_locally_without_any_environment():
    settings = Settings.from_env({})
    assert settings.chat_model == "local/smollm2-135m"
    assert "http://127.0.0.1:8000" in settings.allowed_origins


DEFAULT_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000", "http://localhost:3000", "http://localhost:5173")


def test_the_default_origins_are_the_local_dev_servers_as_documented():
    # the demo page (make dev), and the usual dev servers of Next.js / CRA (3000) and Vite (5173)
    assert Settings.from_env({}).allowed_origins == DEFAULT_ORIGINS
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text("utf-8")
    assert f"| `ALLOWED_ORIGINS` | `{','.join(DEFAULT_ORIGINS)}` |" in doc


def test_values_are_parsed_by_type():
    settings = Settings.from_env(
        {
            "MAX_TOKENS_CAP": "2048",
            "UPSTREAM_TIMEOUT_S": "1.5",
            "ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "ALLOWED_CHAT_MODELS": "openai/gpt-4o,openai/gpt-4o-mini",
            "CHAT_MODEL": "openai/gpt-4o-mini",
        }
    )
    assert settings.max_tokens_cap == 2048 and settings.upstream_timeout_s == 1.5
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.chat_models == ("openai/gpt-4o-mini", "openai/gpt-4o")


def test_invalid_values_fail_at_start_with_the_setting_name():
    with pytest.raises(ValueError, match="max_tokens_cap"):
        Settings.from_env({"MAX_TOKENS_CAP": "lots"})
    with pytest.raises(ValueError, match="DEFAULT_MAX_TOKENS"):
        Settings.from_env({"MAX_TOKENS_CAP": "10", "DEFAULT_MAX_TOKENS": "20"})


def test_prod_refuses_a_wildcard_origin():
    with pytest.raises(ValueError, match="not '\\*'"):
        Settings.from_env({"AIRELAY_STAGE": "prod", "ALLOWED_ORIGINS": "*"})


@pytest.mark.parametrize(
    ("environment", "refused"),
    [
        ({"ALLOWED_ORIGINS": "https://app.example.com,http://app.example.com"}, "ALLOWED_ORIGINS"),
        ({"ALLOWED_ORIGINS": "http://localhost:5173"}, "ALLOWED_ORIGINS"),
        ({}, "ALLOWED_ORIGINS"),  # the local dev origins are plain http
        (
            {"ALLOWED_ORIGINS": "https://app.example.com", "OPENAI_BASE_URL": "http://vllm.example.com/v1"},
            "OPENAI_BASE",
        ),
    ],
)
def test_prod_refuses_plain_http_origins_and_base_urls(environment, refused):
    # GIVEN the prod stage WHEN an origin or the upstream base URL is plain http THEN the settings are refused
    with pytest.raises(ValueError, match=f"{refused}.*https://"):
        Settings.from_env({"AIRELAY_STAGE": "prod", **environment})
    # AND the same values are accepted in dev
    assert Settings.from_env({"AIRELAY_STAGE": "dev", **environment})


def test_prod_accepts_https_origins_and_base_urls():
    settings = Settings.from_env(
        {
            "AIRELAY_STAGE": "prod",
            "ALLOWED_ORIGINS": "https://app.example.com,https://admin.example.com:8443",
            "OPENAI_BASE_URL": "https://vllm.example.com/v1",
        }
    )
    assert settings.allowed_origins == ("https://app.example.com", "https://admin.example.com:8443")


def test_every_setting_is_documented():
    from dataclasses import fields
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text("utf-8")
    missing = [f.metadata["env"] for f in fields(Settings) if f"`{f.metadata['env']}`" not in doc]
    assert not missing, f"docs/configuration.md does not describe {missing}"


SIGN_IN = {"JWT_ISSUER": "https://auth.example/", "JWT_AUDIENCE": "web"}


@pytest.mark.parametrize(
    "environment,problem",
    [
        ({"OPERATOR_CLAIM": "cognito:groups=ops"}, "needs sign-in"),
        ({**SIGN_IN, "OPERATOR_CLAIM": "cognito:groups"}, "claim=value"),
        ({**SIGN_IN, "OPERATOR_CLAIM": "=ops"}, "claim=value"),
        ({"API_KEYS": "web=0123456789abcdef", "OPERATOR_KEYS": "ops"}, "must name entries of API_KEYS"),
    ],
)
def test_a_malformed_operator_setting_fails_at_start(environment, problem):
    with pytest.raises(ValueError, match=problem):
        Settings.from_env(environment)


def test_operator_settings_are_read():
    settings = Settings.from_env({**SIGN_IN, "OPERATOR_CLAIM": " cognito:groups = ops ", "OPERATOR_KEYS": "a1, b2"})
    assert settings.operator_claim_rule == ("cognito:groups", "ops") and settings.operator_keys == ("a1", "b2")


def test_prod_tools_need_a_proof_secret_given_or_named():
    tools = {
        "AIRELAY_STAGE": "prod",
        "ALLOWED_ORIGINS": "https://app.example.com",
        "CHAT_TOOLS": "assistant=search_faq",
    }
    with pytest.raises(ValueError, match="TOOL_PROOF_SECRET"):
        Settings.from_env(tools)
    assert Settings.from_env({**tools, "TOOL_PROOF_SECRET_PARAM": "/airelay/tool-proof-secret"})
    assert Settings.from_env({**tools, "TOOL_PROOF_SECRET": "s" * 32})
    with pytest.raises(ValueError, match="at least 32"):
        Settings.from_env({**tools, "TOOL_PROOF_SECRET": "short"})
