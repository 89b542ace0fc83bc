"""The usage ledger contract, continued (the `ledger` and helpers of test_ledger_contract.py): the totals a ledger
reads back, by model, by caller and by day, with the refusals; and a SQLite file from before the cancelled counter."""

import sqlite3
from datetime import date, timedelta

from airelay.usage.ledger import TOTAL, caller_model_key, identity_key, model_key
from airelay.usage.sqlite import SqliteLedger

from .test_ledger_contract import DAY, D, call_id, dynalite_endpoint, holds, ledger, moto_endpoint, row

__all__ = ["dynalite_endpoint", "ledger", "moto_endpoint"]  # the fixtures of test_ledger_contract.py, shared


def test_each_model_keeps_its_own_totals(ledger):
    ledger.settle(row(model="openai/gpt-4o-mini", cost="0.01"))
    ledger.settle(row(model="openai/gpt-4.1", cost="0.25", status="error"))
    ledger.settle(row(model="openai/gpt-4.1", cost="0.5"))
    totals = ledger.day_totals(DAY)
    mini, big = totals[model_key("openai/gpt-4o-mini")], totals[model_key("openai/gpt-4.1")]
    assert (mini.calls, mini.errors, mini.spent) == (1, 0, D("0.01"))
    assert (big.calls, big.errors, big.spent, big.completion_tokens) == (2, 1, D("0.75"), 10)
    assert (totals[TOTAL].calls, totals[TOTAL].spent) == (3, D("0.76"))


def test_each_caller_keeps_its_own_totals_per_model(ledger):
    ledger.settle(row(identity="key:a", model="openai/gpt-4.1", cost="0.25"))
    ledger.settle(row(identity="key:b", model="openai/gpt-4.1", cost="0.5", status="error"))
    ledger.settle(row(identity="key:a", model="openai/gpt-4o-mini", cost="0.01"))
    totals = ledger.day_totals(DAY)
    a_big, b_big = (
        totals[caller_model_key("key:a", "openai/gpt-4.1")],
        totals[caller_model_key("key:b", "openai/gpt-4.1")],
    )
    assert (a_big.calls, a_big.errors, a_big.spent) == (1, 0, D("0.25"))
    assert (b_big.calls, b_big.errors, b_big.spent) == (1, 1, D("0.5"))
    assert totals[caller_model_key("key:a", "openai/gpt-4o-mini")].spent == D("0.01")
    assert caller_model_key("key:b", "openai/gpt-4o-mini") not in totals


def test_a_callers_own_totals_are_its_counters_of_each_day_and_no_one_elses(ledger):
    # GIVEN a caller whose identity has a "|", and another whose identity ends with the first's, on two days
    mine, other, before = "user:auth0|5f7c", "key:x|user:auth0|5f7c", "2026-11-25"
    ledger.settle(row(identity=mine, model="openai/gpt-4.1", cost="0.25"))
    ledger.settle(row(identity=mine, model="openai/gpt-4o-mini", cost="0.01"))
    ledger.settle(row(identity=other, model="openai/gpt-4.1", cost="0.5"))
    ledger.settle(row(identity=mine, day=before, at=f"{before}T10:00:00.000+00:00", cost="0.02"))
    ledger.count_refusal(DAY, mine)
    # WHEN the first caller's totals are read for 120 days (more than one batch of keys) ending on DAY
    days = [(date.fromisoformat(DAY) - timedelta(days=n)).isoformat() for n in reversed(range(120))]
    found = ledger.caller_totals(mine, days)
    # THEN each day, in order, has its own counter and its counters by model, and nothing of the other caller
    assert len(found) == 120 and not any(found[:-2])
    earlier, last = found[-2:]
    on_big, on_mini = caller_model_key(mine, "openai/gpt-4.1"), caller_model_key(mine, "openai/gpt-4o-mini")
    assert set(last) == {identity_key(mine), on_big, on_mini}
    own = last[identity_key(mine)]
    assert (own.calls, own.spent, own.refused) == (2, D("0.26"), 1)
    assert (last[on_big].calls, last[on_big].spent, last[on_mini].spent) == (1, D("0.25"), D("0.01"))
    assert set(earlier) == {identity_key(mine), on_mini} and earlier[on_mini].spent == D("0.02")


def test_days_are_separate(ledger):
    ledger.settle(row(day="2026-11-25", at="2026-11-25T23:59:59.000+00:00"))
    assert TOTAL not in ledger.day_totals(DAY)
    assert ledger.day_totals("2026-11-25")[TOTAL].calls == 1


def test_a_ledger_file_from_before_the_cancelled_counter_is_upgraded(tmp_path):
    path = tmp_path / "usage.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE counters (day TEXT NOT NULL, key TEXT NOT NULL, committed INTEGER NOT NULL DEFAULT 0, "
            "spent INTEGER NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL "
            "DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0, "
            "completion_tokens INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, key))"
        )
        old.execute("INSERT INTO counters (day, key, spent, calls) VALUES (?, 'total', 1000000, 1)", (DAY,))
    ledger = SqliteLedger(path)
    ledger.settle(row(status="cancelled", cost="0.002"))
    total = ledger.day_totals(DAY)[TOTAL]
    assert (total.calls, total.cancelled, total.spent) == (2, 1, D("0.003"))


def test_refusals_are_counted_per_identity_and_apart_from_calls(ledger):
    # GIVEN a settled call of one identity, and refusals of it and of another
    call, taken = call_id(), holds()
    ledger.reserve(call, taken)
    ledger.settle(row(call_id=call), taken)
    for identity in ("ip:1.2.3.4", "ip:1.2.3.4", "visitor:v@k"):
        ledger.count_refusal(DAY, identity)
    # THEN each identity's day counter has its refusals, and the calls count only the call
    totals = ledger.day_totals(DAY)
    assert (totals[identity_key("ip:1.2.3.4")].calls, totals[identity_key("ip:1.2.3.4")].refused) == (1, 2)
    assert (totals[identity_key("visitor:v@k")].calls, totals[identity_key("visitor:v@k")].refused) == (0, 1)
    assert totals[identity_key("visitor:v@k")].spent == 0
