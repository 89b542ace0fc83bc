"""Documents that enumerate what the code has (modules, setting ranges, metrics, mutation tests) say all of it: each
test reads the document and the code, and fails when one changes without the other."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

from airelay import observability, settings_checks
from airelay.settings import Settings
from airelay.usage.ledger import UsageRow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "core" / "airelay"
# Subpackages the package map describes as a whole, by their folder (`openai_api/`), not file by file.
DESCRIBED_WHOLE = ("openai_api",)


def doc(name: str) -> str:
    return (ROOT / name).read_text("utf-8")


def package_map() -> str:
    text = doc("docs/architecture.md")
    start = text.index("## The package `airelay`")
    return text[start : text.index("\n## ", start + 1)]


def modules() -> list[str]:
    return [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts and path.name not in ("__init__.py", "__main__.py")
    ]


def test_every_module_is_named_in_the_package_map():
    """docs/architecture.md, "The package `airelay`", names every module of layers/core/airelay: by its file name
    (`relay.py`) or its path in the package (`routers/faq.py`); a subpackage of DESCRIBED_WHOLE by its folder."""
    text = package_map()
    unnamed = []
    for module in modules():
        folder, _, name = module.rpartition("/")
        if folder in DESCRIBED_WHOLE:
            named = f"`{folder}/" in text
        else:
            named = module in text or re.search(rf"(?<![\w/]){re.escape(name)}", text) is not None
        if not named:
            unnamed.append(module)
    assert unnamed == [], f"docs/architecture.md's package map does not name {unnamed}"


def configuration_rows() -> dict[str, str]:
    """Each variable of docs/configuration.md's table -> its row."""
    rows = {}
    for line in doc("docs/configuration.md").splitlines():
        if line.startswith("| `"):
            first = re.split(r"(?<!\\)\|", line)[1]
            rows |= dict.fromkeys(re.findall(r"`([A-Z0-9_]+)`", first), line)
    return rows


def refusal(env: str, value: str) -> str | None:
    try:
        Settings.from_env({env: value})
    except ValueError as exc:
        return str(exc)
    return None


# What docs/configuration.md's list of accepted values states for every number (not repeated in each row).
GENERAL_RULES = ("must be a finite number", "must be at least 1")


def test_every_settings_own_range_is_in_its_row():
    """docs/configuration.md: numbers are never negative, durations more than 0, the sizes it lists at least 1, "a
    range of a setting's own is in its row". Each number setting is tried at 0 and at 10^9 alone; a refusal other than
    those general rules names bounds (numbers, or the variable bounding it, as in "DEFAULT_MAX_TOKENS must be between
    1 and MAX_TOKENS_CAP"), and each bound is to be in the setting's row. A size refused at 0 is to be in the list."""
    rows = configuration_rows()
    intro = doc("docs/configuration.md").split("\n| variable |", 1)[0]
    unsaid = []
    for f in fields(Settings):
        env = f.metadata["env"]
        if isinstance(f.default, bool) or not isinstance(f.default, int | float | Decimal):
            continue
        if env in settings_checks.AT_LEAST_ONE and f"`{env}`" not in intro:
            unsaid.append(f"{env}: at least 1, not in the list of sizes")
        for value in ("0", "1000000000"):
            refused = refusal(env, value)
            if refused is None or any(rule in refused for rule in GENERAL_RULES):
                continue
            bounds = re.findall(r"[A-Z][A-Z0-9_]{2,}|\d+(?:\.\d+)?", refused)
            row = rows.get(env, "").replace(",", "")
            missing = [
                b
                for b in dict.fromkeys(bounds)
                if b != env and not re.search(rf"(?<!\w)(?<!\d\.){b}(?!\w)(?!\.\d)", row)
            ]
            if missing:
                unsaid.append(f"{env}={value} refused ({refused}); its row does not say {missing}")
    assert unsaid == []


def test_the_metrics_count_in_cost_md_is_what_record_call_prints(monkeypatch):
    """docs/cost.md says how many metrics the metrics line names (each is a custom metric per function and model),
    and docs/configuration.md's POWERTOOLS_METRICS_NAMESPACE row names them: both as observability.record_call
    prints them."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    row = UsageRow(
        *("call-1", "request-1", "2026-12-04T10:00:00+00:00", "2026-12-04", "key:test", "chat", "openai"),
        *("openai/gpt-4o-mini", 500, 0, 200, Decimal("0.0002"), 900, "ok", False),
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        observability.record_call(row, "airelay-test")
    (document,) = [json.loads(line) for line in printed.getvalue().splitlines() if line.startswith('{"_aws"')]
    names = [m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    said = re.search(r"names (\d+) metrics", " ".join(doc("docs/cost.md").split()))
    assert said, "docs/cost.md no longer says how many metrics the metrics line names"
    assert int(said.group(1)) == len(names)
    row_text = configuration_rows()["POWERTOOLS_METRICS_NAMESPACE"]
    assert [n for n in names if f"`{n}`" not in row_text] == []


def test_the_mutation_table_names_the_tests_each_target_runs():
    """docs/mutation.md's table lists, for each target of bench/mutation_targets.TARGETS, exactly the test files its
    mutants are run against."""
    from bench.mutation_targets import TARGETS

    rows = {}
    for line in doc("docs/mutation.md").splitlines():
        match = re.match(r"\| (\w+) \| `", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`(tests/[\w/]+\.py)`", line.rsplit("|", 2)[-2]))
    assert {t.name: rows.get(t.name) for t in TARGETS} == {
        t.name: {test for test in t.tests if test.endswith(".py")} for t in TARGETS
    }
