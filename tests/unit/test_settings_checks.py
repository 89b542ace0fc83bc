"""What the start-up checks (airelay/settings_checks.py) keep accepting, next to what they refuse
(tests/review15/test_settings_checks.py): every value a documented meaning gives to 0, every spelling of a switch,
every origin a browser can send."""

from __future__ import annotations

import pytest

from airelay.settings import Settings
from airelay.usage.pricing import load_prices


@pytest.mark.parametrize(("value", "on"), [("1", True), (" TRUE ", True), ("Yes", True), ("on", True), ("0", False)])
@pytest.mark.parametrize("name", ["BUDGET_LEASES", "FAQ_INDEX_FLOAT16"])
def test_a_switch_takes_each_documented_spelling(name, value, on):
    settings = Settings.from_env({name: value})
    assert getattr(settings, name.lower()) is on


@pytest.mark.parametrize(
    "name",
    [
        "FAQ_RELOAD_CHECK_S",  # checks the index on every request
        "HISTORY_MAX_TURNS",  # keeps no history
        "HISTORY_MAX_CHARS",
        "CHAT_FILES_MAX",  # accepts no files
        "UPSTREAM_MAX_RETRIES",
        "IMAGE_MAX_REDIRECTS",
        "FAQ_EMBED_CACHE_SIZE",  # no cache
        "REQUESTS_PER_MINUTE",  # not limited
        "RESPONSES_STORE_HOURS",  # keeps none
        "DAILY_BUDGET_USD",  # nothing may be spent
    ],
)
def test_a_zero_with_a_documented_meaning_is_accepted(name):
    assert Settings.from_env({name: "0"})


@pytest.mark.parametrize(
    ("name", "value"), [("USAGE_RETENTION_DAYS", "0"), ("USAGE_SHARDS", "0"), ("FAQ_RELOAD_CHECK_S", "inf")]
)
def test_a_value_below_its_documented_least_is_refused_naming_it(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    "origins",
    ["*", "https://app.example.com:8443,http://[::1]:5173", "http://127.0.0.1:8000,https://xn--bcher-kva.example"],
)
def test_origins_a_browser_can_send_are_accepted(origins):
    assert Settings.from_env({"ALLOWED_ORIGINS": origins})


@pytest.mark.parametrize("origin", ["app.example.com", "https://user@app.example.com", "https://app.example.com?x=1"])
def test_an_entry_that_is_not_an_origin_is_refused(origin):
    with pytest.raises(ValueError, match="ALLOWED_ORIGINS"):
        Settings.from_env({"ALLOWED_ORIGINS": origin})


def test_an_unparsable_value_is_named_but_never_repeated():
    secret_looking = "sk-not-a-number-0123456789"
    with pytest.raises(ValueError, match="UPSTREAM_TIMEOUT_S") as refused:
        Settings.from_env({"UPSTREAM_TIMEOUT_S": secret_looking})
    assert secret_looking not in str(refused.value)


def test_identity_budgets_of_zero_and_fractions_are_read_at_start():
    settings = Settings.from_env({"IDENTITY_BUDGETS": "key:abc=0, ip:2001:db8::1=0.5"})
    assert settings.identity_budgets


def test_a_price_of_zero_is_accepted_and_a_negative_one_refused_naming_the_model():
    assert load_prices('{"hf/*": {"input": 0, "output": 0}}').price("hf/x").free
    with pytest.raises(ValueError, match="openai/my-model"):
        load_prices('{"openai/my-model": {"input": 1, "output": -1}}')
