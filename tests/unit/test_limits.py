from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.identity import Who
from airelay.settings import Settings
from airelay.usage.ledger import REQUESTS, TOKENS, USD, requests_key, tokens_key
from airelay.usage.limits import LimitBook, Limits, parse_identity_budgets

NOW = datetime(2026, 12, 4, 10, 5, 42, tzinfo=UTC)
SETTINGS = Settings(
    identity_daily_budget_usd=Decimal(1),
    identity_budgets="visitor:vip=5",
    requests_per_minute=60,
    visitor_daily_budget_usd=Decimal("0.10"),
    visitor_requests_per_minute=20,
    visitor_tokens_per_minute=20000,
)


def test_anonymous_visitors_have_their_own_limits_by_kind():
    book = LimitBook(SETTINGS)
    assert book.limits_for("visitor:abc@key1") == Limits(Decimal("0.10"), 20, 20000)
    assert book.limits_for("ip:2001:db8::/64") == Limits(Decimal("0.10"), 20, 20000)
    assert book.limits_for("user:alice") == Limits(Decimal(1), 60, 0)
    assert book.limits_for("key:app") == Limits(Decimal(1), 60, 0)


def test_a_visitor_budget_is_never_more_than_the_callers_and_an_override_wins():
    book = LimitBook(Settings(identity_daily_budget_usd=Decimal("0.05"), identity_budgets="visitor:vip=5"))
    assert book.limits_for("visitor:x").usd_per_day == Decimal("0.05")
    assert book.limits_for("visitor:vip").usd_per_day == Decimal(5)


def test_a_call_holds_the_day_budgets_and_this_minutes_requests_and_tokens():
    holds = LimitBook(SETTINGS).holds("visitor:abc", NOW, Decimal("0.002"), 700)
    assert [(h.period, h.key, h.measure, h.amount, h.limit, h.name) for h in holds] == [
        ("2026-12-04", "total", USD, Decimal("0.002"), Decimal(10), "global"),
        ("2026-12-04", "id:visitor:abc", USD, Decimal("0.002"), Decimal("0.10"), "caller"),
        ("2026-12-04T10:05", requests_key("visitor:abc"), REQUESTS, 1, 20, "requests_per_minute"),
        ("2026-12-04T10:05", tokens_key("visitor:abc"), TOKENS, 700, 20000, "tokens_per_minute"),
    ]


def test_limits_set_to_zero_and_calls_without_tokens_hold_no_minute_counter():
    holds = LimitBook(SETTINGS).holds("user:alice", NOW, Decimal(0), 0)
    assert [h.name for h in holds] == ["global", "caller", "requests_per_minute"]
    holds = LimitBook(Settings()).holds("ip:203.0.113.7", NOW, Decimal(0), 500)
    assert [h.name for h in holds] == ["global", "caller"]


def test_a_visitor_tokens_own_limits_apply_where_lower_never_higher():
    from airelay.visitors import VisitorLimits

    book = LimitBook(
        Settings(visitor_daily_budget_usd=Decimal("0.1"), visitor_requests_per_minute=20, visitor_tokens_per_minute=900)
    )
    lower = VisitorLimits(requests_per_minute=2, usd_per_day=Decimal("0.02"))
    assert book.limits_for("visitor:v@web", lower) == Limits(Decimal("0.02"), 2, 900)
    higher = VisitorLimits(requests_per_minute=50, tokens_per_minute=5000, usd_per_day=Decimal(3))
    assert book.limits_for("visitor:v@web", higher) == Limits(Decimal("0.1"), 20, 900)
    assert book.limits_for("visitor:v@web", VisitorLimits(usd_per_day=Decimal(0))).usd_per_day == 0
    assert book.limits_for("visitor:v@web") == Limits(Decimal("0.1"), 20, 900)


def test_a_token_limits_a_visitor_per_minute_where_nothing_is_configured():
    from airelay.visitors import VisitorLimits

    book = LimitBook(Settings())  # no per-minute limits configured (0)
    given = VisitorLimits(requests_per_minute=3, tokens_per_minute=400)
    assert book.limits_for("visitor:v@web", given) == Limits(Decimal(1), 3, 400)
    holds = book.holds("visitor:v@web", NOW, Decimal(0), 100, given)
    assert [(h.name, h.limit) for h in holds][2:] == [("requests_per_minute", 3), ("tokens_per_minute", 400)]


def test_a_token_cannot_lift_an_operators_budget_for_one_identity_either():
    from airelay.visitors import VisitorLimits

    book = LimitBook(Settings(identity_budgets="visitor:vip@web=5"))
    assert book.limits_for("visitor:vip@web", VisitorLimits(usd_per_day=Decimal(9))).usd_per_day == 5
    assert book.limits_for("visitor:vip@web", VisitorLimits(usd_per_day=Decimal(2))).usd_per_day == 2


def test_identity_budgets_are_read_by_identity_and_an_entry_without_one_is_refused():
    assert parse_identity_budgets(" ip:203.0.113.7=5, key:abc=20 ,") == {"ip:203.0.113.7": 5, "key:abc": 20}
    for bad in ("=5", "ip:1", " = 5"):
        with pytest.raises(ValueError, match="IDENTITY_BUDGETS"):
            parse_identity_budgets(bad)


IPV6_VISITOR = "2001:db8:1:2:a1b2:c3d4:e5f6:7"  # as API Gateway's sourceIp and access log show it
IPV6_ENTRIES = {
    "the-logged-address": f"ip:{IPV6_VISITOR}",
    "its-64-in-capitals": "ip:2001:DB8:1:2::/64",
    "its-64-spelled-out": "ip:2001:db8:1:2:0:0:0:0/64",
    "another-address-of-its-64": "ip:2001:db8:1:2::1",
    "a-narrower-network-in-it": "ip:2001:db8:1:2:a1b2::/80",
}


@pytest.mark.parametrize("entry", IPV6_ENTRIES.values(), ids=IPV6_ENTRIES.keys())
def test_an_ipv6_entry_applies_to_the_visitor_known_by_its_64_however_it_is_written(entry):
    """A visitor without a token is `ip:<its /64>@<key>`, the /64 written as `ipaddress` writes it
    (visitors.address_group). An IDENTITY_BUDGETS entry naming its address, or any address or network in its /64, in
    any valid spelling, is read as that /64 and applies: here a $0 budget blocks the visitor."""
    book = LimitBook(Settings(visitor_daily_budget_usd=Decimal("0.10"), identity_budgets=f"{entry}=0"))
    visitor = Who(source_ip=IPV6_VISITOR, api_key_id="k3y1d").identity
    assert book.limits_for(visitor).usd_per_day == 0, visitor
    assert LimitBook(Settings(identity_budgets=f"{entry}@k3y1d=0")).limits_for(visitor).usd_per_day == 0


def test_ipv4_entries_are_read_as_the_identity_writes_the_address():
    """An IPv4-mapped IPv6 address, or an IPv4 /32, names the IPv4 address a visitor from it is known by."""
    assert parse_identity_budgets("ip:::ffff:203.0.113.7=1, ip:198.51.100.9/32@k1=2") == {
        "ip:203.0.113.7": 1,
        "ip:198.51.100.9@k1": 2,
    }
    assert Who(source_ip="::ffff:203.0.113.7").identity == "ip:203.0.113.7"


def test_a_visitors_entry_without_a_key_covers_it_behind_every_key_and_one_with_a_key_behind_that_one():
    book = LimitBook(Settings(identity_budgets="ip:203.0.113.7=5,ip:198.51.100.9@k1=7,user:alice=9"))
    assert book.limits_for("ip:203.0.113.7@k1").usd_per_day == Decimal(5)
    assert book.limits_for("ip:203.0.113.7@k2").usd_per_day == Decimal(5)
    assert book.limits_for("ip:198.51.100.9@k1").usd_per_day == Decimal(7)
    assert book.limits_for("ip:198.51.100.9@k2").usd_per_day == Settings().visitor_daily_budget_usd
    # a signed-in user's id may hold an "@": only its whole identity matches
    assert book.limits_for("user:alice@example.com").usd_per_day == Settings().identity_daily_budget_usd
