"""Settings an operator gets wrong are refused at start, naming the variable (docs/configuration.md: "A value that
cannot be parsed stops the function at start with the setting's name in the message"), rather than accepted and
misbehaving on every request later."""

from __future__ import annotations

import pytest

from airelay.settings import Settings
from airelay.usage.limits import LimitBook
from airelay.usage.pricing import load_prices
from tests.support import state

# ---------------------------------------------------------------- durations


DURATIONS = [
    "UPSTREAM_TIMEOUT_S",  # anyio.fail_after(0 or less): every chat answer is a 504 before any upstream byte
    "UPSTREAM_CONNECT_TIMEOUT_S",
    "STREAM_IDLE_TIMEOUT_S",
    "STREAM_DEADLINE_S",  # every stream ends with an error part at once, every buffered chat is a 504
    "IMAGE_FETCH_TIMEOUT_S",
    "AIRELAY_AWS_CONNECT_TIMEOUT_S",
    "AIRELAY_AWS_READ_TIMEOUT_S",
    "LEASE_SECONDS",
]


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
@pytest.mark.parametrize("name", DURATIONS)
def test_a_timeout_of_zero_less_or_nan_is_refused_at_start_naming_it(name, value):
    # GIVEN a deadline that no call can meet (BODY_READ_TIMEOUT_S is already checked this way)
    # WHEN the settings are read THEN they are refused with the variable's name
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


# ---------------------------------------------------------------- sizes and counts


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BODY_BYTES", "0"),  # every request with a body is a 413
        ("MAX_BODY_BYTES", "-1"),
        ("MESSAGE_MAX_CHARS", "-1"),  # every chat message is a 422
        ("HISTORY_MAX_TURNS", "-1"),  # history[1:]: every turn but the oldest is kept, no limit at all
        ("HISTORY_MAX_CHARS", "-1"),
        ("CHAT_FILES_MAX", "-1"),
        ("CHAT_FILE_MAX_BYTES", "-1"),
        ("IMAGE_MAX_BYTES", "-1"),
        ("IMAGE_MAX_PIXELS", "-1"),
        ("IMAGE_MAX_REDIRECTS", "-1"),
        ("UPSTREAM_MAX_RETRIES", "-1"),
        ("SENTIMENT_TEXT_MAX_CHARS", "-1"),
        ("FAQ_QUESTION_MAX_CHARS", "-1"),
        ("CLIENT_TOOL_OUTPUT_MAX_CHARS", "-1"),
        ("USAGE_RETENTION_DAYS", "-1"),  # SQLite deletes today's call rows at start; DynamoDB rows expire at once
    ],
)
def test_a_negative_size_or_count_is_refused_at_start_naming_it(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


# ---------------------------------------------------------------- switches and the stage


@pytest.mark.parametrize(("name", "value"), [("BUDGET_LEASES", "ture"), ("FAQ_INDEX_FLOAT16", "yes please")])
def test_a_switch_that_is_neither_true_nor_false_is_refused_not_read_as_false(name, value):
    # GIVEN a typo in a boolean switch WHEN the settings are read THEN it is refused (today: silently off)
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize("stage", ["production", "Prod"])
def test_a_stage_other_than_local_dev_or_prod_is_refused(stage):
    # GIVEN a stage documented as `local`, `dev` or `prod`, spelled another way, and a wildcard origin
    environment = {"AIRELAY_STAGE": stage, "ALLOWED_ORIGINS": "*", "OPENAI_BASE_URL": "http://upstream.example/v1"}
    # THEN it is refused rather than run with none of prod's checks (a wildcard origin, plain http)
    with pytest.raises(ValueError, match="AIRELAY_STAGE"):
        Settings.from_env(environment)


# ---------------------------------------------------------------- messages name the variable


@pytest.mark.parametrize(
    ("name", "value"),
    [("AIRELAY_AWS_CONNECT_TIMEOUT_S", "fast"), ("DAILY_BUDGET_USD", "abc"), ("MAX_BODY_BYTES", "256k")],
)
def test_an_unparsable_value_names_the_environment_variable(name, value):
    # today: "setting aws_connect_timeout_s has an invalid value", a name the operator never wrote
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


# ---------------------------------------------------------------- IDENTITY_BUDGETS and MODEL_PRICES


def started(environment: dict[str, str]) -> LimitBook:
    """What a function does at INIT with these settings: read them and make the meter's limits."""
    return LimitBook(Settings.from_env(environment))


@pytest.mark.parametrize(
    "budgets",
    [
        "ip:203.0.113.7=abc",  # decimal.InvalidOperation: [<class 'decimal.ConversionSyntax'>], no variable named
        "key:abc123=-5",  # accepted: every call of that key is refused as over its budget
        "key:abc123=NaN",  # accepted: the first call of that key fails comparing against NaN
        "ip:2001:db8::/48=0",  # wider than the /64 a visitor is known by: it would never match one
        "ip:203.0.113.0/24=0",  # a visitor is known by one IPv4 address
        "ip:::ffff:203.0.113.0/120=0",  # IPv4-mapped: known by IPv4 addresses, never by this network
        "ip:fe80::1%eth0=0",  # a client's address carries no zone
        "ip:visitor.example.com=0",  # not an address: API Gateway's sourceIp always is one
    ],
)
def test_a_malformed_identity_budget_is_refused_naming_identity_budgets(budgets):
    """An entry that cannot be read, or an `ip:` entry that could never match a visitor's identity (which would
    leave the visitor its full budget, silently), stops the function at start."""
    with pytest.raises(ValueError, match="IDENTITY_BUDGETS"):
        started({"IDENTITY_BUDGETS": budgets})


@pytest.mark.parametrize(
    "prices",
    [
        '{"openai/my-model": {"input": "NaN", "output": 1}}',  # decimal.InvalidOperation escapes, unnamed
        '{"openai/my-model": {"input": NaN, "output": 1}}',  # JSON's NaN literal, which json.loads accepts
        '{"openai/my-model": {"input": "Infinity", "output": 1}}',  # accepted: every call's worst case is infinite
    ],
)
def test_a_price_that_is_not_a_finite_number_is_refused_naming_the_model(prices):
    with pytest.raises(ValueError, match="openai/my-model"):
        load_prices(prices)


# ---------------------------------------------------------------- CHAT_TOOLS and TOOLS_MODULE


@pytest.fixture
def clean_state():
    from airelay.tools import catalog

    yield
    state.forget_meter()
    state.forget_chat_models()
    catalog.available.cache_clear()


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"CHAT_TOOLS": "assistant=search_faqq"}, "CHAT_TOOLS"),  # a typo of the built-in search_faq
        ({"CHAT_TOOLS": "assistant=search_faq", "TOOLS_MODULE": "no_such_operator_tools"}, "TOOLS_MODULE"),
    ],
)
def test_chat_tools_naming_no_tool_stop_the_chat_function_at_init(tmp_path, clean_state, environment, named):
    # GIVEN a chat function configured with a tool that does not exist (or a tools module that cannot be imported)
    from airelay.routers import chat
    from airelay.web import create_app

    # WHEN its app is made at INIT THEN it refuses to start, naming the variable; today it starts, and every chat
    # of that persona is a 500 (ValueError / ModuleNotFoundError raised inside the route)
    with pytest.raises(Exception, match=named):
        create_app(
            chat.router, settings=Settings.from_env({"USAGE_DB_PATH": str(tmp_path / "u.sqlite3"), **environment})
        )


# ---------------------------------------------------------------- ALLOWED_ORIGINS


@pytest.mark.parametrize("origin", ["https://app.example.com/", "https://app.example.com/chat"])
def test_an_allowed_origin_with_a_path_is_refused(origin):
    # GIVEN an origin pasted as a URL: a browser's Origin header never has a path, not even "/", so this entry matches
    # no request and every cross-origin call fails CORS with nothing in the logs
    # THEN it is refused at start, naming the variable
    with pytest.raises(ValueError, match="ALLOWED_ORIGINS"):
        Settings.from_env({"ALLOWED_ORIGINS": f"http://localhost:5173,{origin}"})
