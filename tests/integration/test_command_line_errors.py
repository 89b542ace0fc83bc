"""The operator's command lines on bad arguments, bad settings and missing files: a one-line error and a non-zero exit,
never a Python traceback (as tests/integration/test_command_lines.py asks of `usage --days 0` and `faq info`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from airelay.settings import Settings
from local.template import ROOT

SECRET = "s" * 40
SOURCE = {
    "entries": [
        {"id": "fee", "question": "배송비는 얼마인가요?", "answer": "3,000원"},
        {"id": "refund", "question": "환불은 언제 되나요?", "answer": "1~2영업일"},
    ]
}


def run(*args: str, cwd: Path = ROOT, **environment: str) -> subprocess.CompletedProcess:
    """`python ARGS` as a user runs it (layers/core and the root on PYTHONPATH), none of this process's settings."""
    settings = {f.metadata["env"] for f in fields(Settings)}
    env = {name: value for name, value in os.environ.items() if name not in settings}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]), **environment}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def assert_clear_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-600:]


# ---------------------------------------------------------------- python -m airelay


@pytest.mark.parametrize("value", ["abc", "NaN"])
def test_visitor_token_refuses_a_usd_per_day_that_is_not_a_number_with_a_usage_message(value):
    # GIVEN the README's command with a mistyped --usd-per-day
    result = run(
        "-m",
        "airelay",
        "visitor-token",
        "--visitor",
        "session-42",
        "--usd-per-day",
        value,
        VISITOR_TOKEN_SECRET=SECRET,
    )
    # THEN argparse's usage message and exit 2, not decimal.InvalidOperation's traceback
    assert_clear_error(result)
    assert result.returncode == 2 and "--usd-per-day" in result.stderr


@pytest.mark.parametrize(
    ("command", "environment", "named"),
    [
        (["usage"], {"DAILY_BUDGET_USD": "ten"}, "DAILY_BUDGET_USD"),
        (["usage"], {"DEFAULT_MAX_TOKENS": "4096"}, "DEFAULT_MAX_TOKENS"),
        (["visitor-token", "--visitor", "v1"], {"VISITOR_TOKEN_SECRET": "short"}, "VISITOR_TOKEN_SECRET"),
    ],
)
def test_a_bad_setting_is_a_one_line_error_naming_it(tmp_path, command, environment, named):
    # GIVEN a setting the functions would refuse at start
    result = run("-m", "airelay", *command, USAGE_DB_PATH=str(tmp_path / "u.sqlite3"), **environment)
    # THEN the console command says which one, without a traceback (today: the ValueError's traceback, raised while
    # `python -m airelay` imports airelay.usage, so even --help fails)
    assert_clear_error(result)
    assert named in result.stderr


# ---------------------------------------------------------------- python -m airelay.faq


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(SOURCE, ensure_ascii=False), "utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["info", "s3://my-bucket"],  # ValueError: an S3 URL looks like s3://bucket/key
        ["info", "file://"],  # ValueError: a file URL needs a path
        ["info", "{tmp}"],  # IsADirectoryError
        ["build", "{tmp}", "--to", "file://{tmp}/index.bin", "--quiet"],  # IsADirectoryError
        ["build", "{source}", "--to", "s3://my-bucket", "--quiet"],  # ValueError, after the whole source was embedded
        ["build", "{source}", "--to", "file://{tmp}/index.bin", "--batch-rows", "-1", "--quiet"],  # numpy ValueError
    ],
)
def test_faq_command_line_errors_are_one_line_errors(tmp_path, source, args):
    args = [a.format(tmp=tmp_path, source=source) for a in args]
    result = run("-m", "airelay.faq", *args, cwd=tmp_path)
    assert_clear_error(result)
    assert "error:" in result.stderr


def test_faq_build_refuses_a_target_that_is_neither_file_nor_s3(tmp_path, source):
    # GIVEN an S3 URL with an upper-case scheme (the help says: file://PATH or s3://BUCKET/KEY)
    result = run(
        "-m", "airelay.faq", "build", str(source), "--to", "S3://my-bucket/index/faq-index.bin", "--quiet", cwd=tmp_path
    )
    # THEN it is refused; today it "wrote file://S3:/my-bucket/index/faq-index.bin" under the working directory, exit 0,
    # and the bucket the operator meant is never written
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p != source)
    assert result.returncode != 0, result.stderr
    assert written == []


# ---------------------------------------------------------------- python -m local.invoke


def test_local_invoke_on_a_missing_event_file_is_a_one_line_error(tmp_path):
    result = run("-m", "local.invoke", "SentimentFunction", "--event", str(tmp_path / "no-such-event.json"))
    assert_clear_error(result)
    assert "no-such-event.json" in result.stderr


def test_local_invoke_on_an_event_file_that_is_not_json_is_a_one_line_error(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"httpMethod": "POST",', "utf-8")
    result = run("-m", "local.invoke", "SentimentFunction", "--event", str(event))
    assert_clear_error(result)
    assert "event.json" in result.stderr
