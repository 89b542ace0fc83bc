"""The command lines the README shows, each run as a user runs it (a fresh interpreter from the repository root):
`python -m airelay usage`, `python -m airelay.faq info` and `python -m local.invoke`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from airelay.faq.build import build_index
from airelay.faq.index import serialize
from airelay.faq.source import parse_source
from airelay.settings import Settings
from airelay.usage.ledger import UsageRow
from airelay.usage.sqlite import SqliteLedger
from local.template import ROOT
from tests.fakes import KeyedEmbedder
from tests.support.upstream import FakeUpstream


def run(*args: str, **environment: str) -> subprocess.CompletedProcess:
    """`python ARGS` from the repository root with layers/core on PYTHONPATH (as the README says), none of this
    process's airelay settings, and `environment`."""
    settings = {f.metadata["env"] for f in fields(Settings)}
    env = {name: value for name, value in os.environ.items() if name not in settings}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]), **environment}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def record(db_path, identity: str, model: str, cost: str, status: str = "ok") -> None:
    day = datetime.now(UTC).date().isoformat()
    SqliteLedger(db_path).settle(
        UsageRow(
            call_id=f"{identity}-{model}-{cost}-{status}",
            request_id="r",
            at=f"{day}T01:00:00.000+00:00",
            day=day,
            identity=identity,
            function="chat",
            provider=model.partition("/")[0],
            model=model,
            prompt_tokens=1000,
            cached_tokens=0,
            completion_tokens=250,
            cost_usd=Decimal(cost),
            latency_ms=5,
            status=status,
            estimated=False,
        )
    )


# ---------------------------------------------------------------- python -m airelay usage


def test_usage_prints_spend_and_tokens_by_model_with_todays_budget(tmp_path):
    # GIVEN a ledger with three calls today: two on one model (one of them failed), one on another
    db = tmp_path / "usage.sqlite3"
    record(db, "key:web", "openai/gpt-4o-mini", "0.25")
    record(db, "key:web", "openai/gpt-4o-mini", "0.125", status="error")
    record(db, "ip:198.51.100.7", "openai/gpt-4o", "1.5")
    # WHEN the command from the README runs
    result = run("-m", "airelay", "usage", "--days", "7", "--by", "model", USAGE_DB_PATH=str(db))
    # THEN it prints one line per model and the total, with tokens, USD and KRW (1400 per USD), and today's budget
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    today = datetime.now(UTC).date()
    assert lines[0].startswith(f"usage {today - timedelta(days=6)} .. {today} by model")
    table = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("openai/", "total"))}
    assert table["openai/gpt-4o-mini"] == ["2", "1", "0", "0", "2,000", "500", "$0.375000", "₩525.00"]
    assert table["openai/gpt-4o"] == ["1", "0", "0", "0", "1,000", "250", "$1.500000", "₩2,100.00"]
    assert table["total"] == ["3", "1", "0", "0", "3,000", "750", "$1.875000", "₩2,625.00"]
    assert any(line.startswith("today: $1.875000 of $10.00 used, $8.125000 left, resets in ") for line in lines)


def test_usage_by_day_has_a_line_for_every_day_and_by_model_says_when_there_is_nothing(tmp_path):
    db = tmp_path / "usage.sqlite3"
    empty = run("-m", "airelay", "usage", "--by", "model", USAGE_DB_PATH=str(db))
    assert empty.returncode == 0 and "no calls recorded in this range" in empty.stdout
    record(db, "key:web", "openai/gpt-4o-mini", "0.25")
    result = run("-m", "airelay", "usage", "--days", "3", USAGE_DB_PATH=str(db))
    assert result.returncode == 0, result.stderr
    today = datetime.now(UTC).date()
    calls = {
        line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.startswith(("20", "total "))
    }
    assert calls == {str(today - timedelta(days=2)): "0", str(today - timedelta(days=1)): "0", str(today): "1"} | {
        "total": "1"
    }


def test_usage_shows_a_spend_too_small_for_six_decimals_as_more_than_nothing(tmp_path):
    """A paid call's spend is never printed as zero: one embedding call (20 tokens at $0.02 per 1M) costs $4e-7, which
    six decimals would round to `$0.000000`; such an amount is shown with its significant digits instead."""
    # GIVEN one paid embedding call today
    db = tmp_path / "usage.sqlite3"
    record(db, "ip:203.0.113.7", "openai/text-embedding-3-small", "0.0000004")
    # WHEN today's spend by model is printed
    result = run("-m", "airelay", "usage", "--days", "1", "--by", "model", USAGE_DB_PATH=str(db))
    # THEN the model, the total and today's used budget show it (the won are the API's, rounded to cents)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("openai/", "total"))}
    assert table["openai/text-embedding-3-small"][-2:] == ["$0.0000004", "₩0.00"]
    assert table["total"][-2:] == ["$0.0000004", "₩0.00"]
    assert any(line.startswith("today: $0.0000004 of $10.00 used, ") for line in lines)


def test_usage_by_model_shows_refusals_when_no_call_was_admitted(tmp_path):
    """Refusals have no row by model (no model ran), but the total line carries them, as the API's report does:
    a caller refused three times today is not "no calls recorded"."""
    # GIVEN a caller refused three times today and no call admitted
    db = tmp_path / "usage.sqlite3"
    ledger = SqliteLedger(db)
    for _ in range(3):
        ledger.count_refusal(datetime.now(UTC).date().isoformat(), "ip:203.0.113.7")
    # WHEN today's usage by model is printed
    result = run("-m", "airelay", "usage", "--days", "1", "--by", "model", USAGE_DB_PATH=str(db))
    # THEN the table has only its total line, with the 3 refusals
    assert result.returncode == 0, result.stderr
    assert "no calls recorded" not in result.stdout
    table = [line.split() for line in result.stdout.splitlines() if line.startswith(("openai/", "total"))]
    assert table == [["total", "0", "0", "0", "3", "0", "0", "$0.000000", "₩0.00"]]


@pytest.mark.parametrize("args", [["--days", "0"], ["--days", "1000"], ["--by", "colour"], []])
def test_usage_refuses_bad_arguments_with_a_usage_message(tmp_path, args):
    result = run("-m", "airelay", *(["usage", *args] if args else []), USAGE_DB_PATH=str(tmp_path / "u.sqlite3"))
    assert result.returncode == 2
    assert "usage: python -m airelay" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- python -m airelay.faq info


@pytest.fixture
def index_file(tmp_path):
    source = parse_source(
        json.dumps(
            {
                "entries": [
                    {
                        "id": "fee",
                        "question": "배송비는 얼마인가요?",
                        "answer": "3,000원",
                        "alternates": ["Shipping fee?"],
                    },
                    {"id": "refund", "question": "환불은 언제 되나요?", "answer": "1~2영업일"},
                ]
            }
        ).encode(),
        "faq.json",
    )
    index, _, _ = asyncio.run(build_index(source, KeyedEmbedder("fake/keyed", dimension=16)))
    path = tmp_path / "faq-index.bin"
    path.write_bytes(serialize(index))
    return path, index


def test_faq_info_prints_the_index_metadata(index_file):
    path, index = index_file
    result = run("-m", "airelay.faq", "info", f"file://{path}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"file://{path} (version ")
    assert lines[1].strip() == "model fake/keyed, 16 dimensions, stored as float32"
    assert lines[2].strip() == f"2 entries, 3 rows, {path.stat().st_size:,} bytes"
    assert lines[3].strip() == f"source sha256 {index.meta.source_sha256}"
    assert lines[4].strip() == f"built {index.meta.built_at}"


def test_faq_info_on_a_missing_or_damaged_index_is_a_clear_error(tmp_path, index_file):
    missing = run("-m", "airelay.faq", "info", f"file://{tmp_path}/nothing.bin")
    assert missing.returncode == 2 and missing.stderr.startswith("error: not found: ")
    path, _ = index_file
    path.write_bytes(path.read_bytes()[:200])
    damaged = run("-m", "airelay.faq", "info", f"file://{path}")
    assert damaged.returncode == 1 and damaged.stderr.startswith("error: The FAQ index")
    assert "Traceback" not in missing.stderr + damaged.stderr


# ---------------------------------------------------------------- python -m local.invoke


def test_local_invoke_runs_a_functions_handler_with_an_event_file(tmp_path):
    # GIVEN chat answered by the fake upstream
    with FakeUpstream() as upstream:
        # WHEN the README's command runs
        result = run(
            "-m",
            "local.invoke",
            "ChatFunction",
            "--event",
            "events/chat_buffered.json",
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            USAGE_DB_PATH=str(tmp_path / "usage.sqlite3"),
            LOG_LEVEL="WARNING",
        )
        asked = list(upstream.requests)
    # THEN it printed the Lambda response: a 200 with the answer and the event's request id
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    event = json.loads((ROOT / "events" / "chat_buffered.json").read_text("utf-8"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["response"] == FakeUpstream.REPLY_TEXT
    assert response["headers"]["x-request-id"] == event["requestContext"]["requestId"]
    assert [m["content"] for m in asked[0]["messages"]][-1] == json.loads(event["body"])["message"]
    # AND the function's own output went to stderr, as SAM shows it: the call's EMF metric document
    [document] = [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"_aws"')]
    assert (document["function"], document["model"], document["Calls"]) == ("chat", "openai/gpt-4o-mini", [1.0])


def test_local_invoke_names_the_functions_when_one_is_unknown():
    result = run("-m", "local.invoke", "NoSuchFunction", "--event", "events/chat_buffered.json")
    assert result.returncode == 1
    assert "no function 'NoSuchFunction' in template.yaml" in result.stderr and "ChatFunction" in result.stderr
