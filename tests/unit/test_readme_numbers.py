"""The README's starting numbers for a public app are the template's defaults (except the WAF, off by default), and
its per-visitor figures follow from the prices and the settings' defaults."""

import re
from decimal import Decimal

from airelay.settings import Settings
from airelay.usage.pricing import load_prices
from local.template import ROOT, load_template

TABLE_START = "Starting numbers for a new public app"
OFF_BY_DEFAULT = {"WafRateLimitPerAddress"}


def starting_numbers() -> dict[str, str]:
    """`Parameter` -> `value` from the README's table, "`A` / `B` | `1` / `2`" rows split into A=1 and B=2."""
    text = (ROOT / "README.md").read_text("utf-8")
    lines = text[text.index(TABLE_START) :].split("\n\n", 2)[1].splitlines()[2:]
    numbers = {}
    for line in lines:
        what, value, _ = (cell.strip() for cell in line.strip("|").split("|"))
        names, values = re.findall(r"`([A-Za-z]+)`", what), re.findall(r"`([0-9.]+)`", value)
        numbers |= dict(zip(names, values if len(values) == len(names) else re.findall(r"[0-9.]+", value)))
    return numbers


def test_the_readmes_starting_numbers_are_the_templates_defaults():
    parameters = load_template()["Parameters"]
    numbers = starting_numbers()
    shown = {name for name in numbers if name in parameters}
    assert len(shown) >= 11, numbers
    for name in shown:
        default = Decimal(str(parameters[name]["Default"]))
        if name in OFF_BY_DEFAULT:
            assert default == 0, name
        else:
            assert Decimal(numbers[name]) == default, f"{name}: README {numbers[name]}, template {default}"


def test_the_readmes_per_turn_figures_follow_from_the_prices():
    price = load_prices("").price("openai/gpt-4o-mini")
    settings = Settings()
    turn = price.worst_case(500, 200)
    worst = price.worst_case(500, settings.default_max_tokens)
    assert Decimal("0.00015") < turn < Decimal("0.00025") and Decimal("0.0003") < worst < Decimal("0.0005")
    assert price.worst_case(500, settings.max_tokens_cap) < Decimal("0.001")
    numbers = starting_numbers()
    assert 400 <= Decimal(numbers["VisitorDailyBudgetUsd"]) / turn <= 600  # "about 500 turns a visitor a day"
    assert 40_000 <= Decimal(numbers["DailyBudgetUsd"]) / turn <= 60_000  # "about 50,000 turns"


def test_a_daily_quota_set_as_the_readme_says_is_more_than_one_address_can_send_behind_the_waf():
    """The app key has no daily quota to start with (all its visitors would share it, so one address could use it up
    for everyone). An operator who sets one is told to keep it above what one address may send in a day behind the
    suggested WAF limit (WAF counts 5-minute windows: 288 a day), and the README's figure is that number."""
    numbers = starting_numbers()
    assert numbers["ApiQuotaPerDay"] == "0"
    windows_a_day = 24 * 60 * 60 // 300
    one_address_a_day = int(numbers["WafRateLimitPerAddress"]) * windows_a_day
    text = (ROOT / "README.md").read_text("utf-8")
    row = next(line for line in text[text.index(TABLE_START) :].splitlines() if "`ApiQuotaPerDay`" in line)
    assert f"{windows_a_day} × `WafRateLimitPerAddress` ({one_address_a_day:,} at" in row, row
    description = " ".join(load_template()["Parameters"]["ApiQuotaPerDay"]["Description"].split())
    assert f"{windows_a_day} x WafRateLimitPerAddress ({one_address_a_day} at" in description
