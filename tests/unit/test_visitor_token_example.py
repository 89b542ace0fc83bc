"""The README's backend example (examples/visitor_token.py) is shown verbatim, and airelay accepts what it mints."""

import importlib.util
import re
from decimal import Decimal
from pathlib import Path

import pytest

from airelay.visitors import BadVisitorToken, Visitor, VisitorLimits, VisitorTokens

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "visitor_token.py"
SECRET = "0123456789abcdef" * 4


@pytest.fixture
def example(monkeypatch):
    monkeypatch.setenv("VISITOR_TOKEN_SECRET", SECRET)
    spec = importlib.util.spec_from_file_location("visitor_token_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_the_example_verbatim():
    readme = (ROOT / "README.md").read_text("utf-8")
    [block] = re.findall(r"<!-- example: examples/visitor_token.py -->\n```python\n(.*?)```\n", readme, re.S)
    assert block == EXAMPLE.read_text("utf-8")


def test_airelay_accepts_the_examples_tokens_with_their_limits(example):
    tokens = VisitorTokens(SECRET, "airelay", max_ttl_s=3600)
    assert tokens.visitor(example.visitor_token("session-42")) == Visitor("session-42")
    limited = example.visitor_token("s-1", limits={"requests_per_minute": 5, "usd_per_day": "0.02"})
    assert tokens.visitor(limited).limits == VisitorLimits(requests_per_minute=5, usd_per_day=Decimal("0.02"))


def test_a_token_the_example_mints_for_too_long_is_refused(example):
    with pytest.raises(BadVisitorToken):
        VisitorTokens(SECRET, "airelay", max_ttl_s=3600).visitor(example.visitor_token("s-1", ttl_s=7200))
