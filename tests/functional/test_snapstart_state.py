"""SnapStart: what INIT makes that each environment restored from one snapshot must not share: the budget leases'
random ids, the provider keys read from SSM (rotated since the snapshot, perhaps)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import boto3
import pytest

from airelay import aws, snapstart
from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, USD, Hold
from tests.support import state
from tests.support.aws import moto_server


class LeaseStore:
    """A DynamoLeases stand-in that records the lease ids it is asked to grant."""

    def __init__(self) -> None:
        self.granted: list[str] = []

    def grant(self, lease, hold, now):
        self.granted.append(lease.lease_id)
        return lease.size

    def reserve(self, call_id, holds):
        pass

    def settle(self, row, holds=()):
        pass

    def give_back(self, lease):
        return Decimal(0)

    def draw(self, lease, drawn):
        return True


def first_lease_id_after_restore(ledger: LeasedLedger, store: LeaseStore, snapshot) -> str:
    """One environment restored from the snapshot: the ledger's memory as INIT left it, then the restore hook, then
    its first paid call (which takes a lease)."""
    ledger.rng.setstate(snapshot["ledger_rng"])
    random.setstate(snapshot["random"])
    ledger._open.clear()
    snapstart.after_restore()
    day = "2026-12-04"
    ledger.reserve(f"call-{len(store.granted)}", [Hold(day, TOTAL, USD, Decimal("0.01"), Decimal("100"), "global")])
    return store.granted[-1]


def test_restored_environments_take_leases_with_different_ids():
    # GIVEN the leased ledger INIT makes (BUDGET_LEASES): a lease record is keyed by its id, so two environments
    # restored from one snapshot must not draw the same ones
    store = LeaseStore()
    ledger = LeasedLedger(store, 30.0)  # as open_ledger makes it at INIT
    snapshot = {"ledger_rng": ledger.rng.getstate(), "random": random.getstate()}
    first = first_lease_id_after_restore(ledger, store, snapshot)
    second = first_lease_id_after_restore(ledger, store, snapshot)
    assert first != second, "two environments restored from one snapshot took leases with the same id"


PARAM = "/airelay/openai-api-key"


@pytest.fixture
def ssm(monkeypatch):
    for name in ("OPENAI_API_KEY", "CHAT_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with moto_server(monkeypatch):
        yield boto3.client("ssm")
    get_settings.cache_clear()
    state.forget_chat_models()
    aws.reset()


def test_a_restore_reads_the_provider_key_from_ssm_again(ssm, monkeypatch):
    # GIVEN a chat provider built at INIT with the key read from SSM, which is rotated before a restore
    ssm.put_parameter(Name=PARAM, Value="sk-at-init", Type="SecureString")
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", PARAM)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    state.forget_chat_models()
    model = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))  # INIT
    assert model.client.api_key == "sk-at-init"
    snapstart.before_snapshot()
    ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)  # days later
    snapstart.after_restore()
    restored = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    assert restored.client.api_key == "sk-rotated"
