"""What `python -m bench.mutation` mutates and how it tests each mutant: one Target per area of the code that refuses
callers or limits spend (the usage ledger, budgets, the web and auth middleware, the image fetcher, the FAQ bot),
naming its files under airelay/, the fast tests that must notice a broken line, the functions to mutate where not
the whole file, and the tests left out; and the pytest arguments its runs get (docs/mutation.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "--no-header"]


@dataclass(frozen=True)
class Target:
    name: str
    files: tuple[str, ...]  # under airelay/
    tests: tuple[str, ...]  # pytest arguments, fastest and most telling first (-x stops at the first failure)
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> the functions to mutate in it
    deselect: str = ""  # a pytest -k expression of tests to leave out

    def pytest_args(self) -> list[str]:
        left_out = " or ".join(filter(None, ("dynamodb or dynalite or moto", self.deselect)))
        return [*PYTEST, "-k", f"not ({left_out})", *self.tests]


TARGETS = (
    Target(
        "ledger",
        ("usage/ledger.py", "usage/sqlite.py"),
        (
            "tests/unit/test_usage_report.py",
            "tests/unit/test_sqlite_ledger.py",
            "tests/integration/test_ledger_contract.py",
            "tests/integration/test_ledger_contract_totals.py",
        ),
    ),
    Target(
        "budgets",
        ("usage/meter.py", "usage/limits.py", "usage/pricing.py", "usage/__init__.py"),
        (
            "tests/unit/test_meter.py",
            "tests/unit/test_limits.py",
            "tests/unit/test_metered.py",
            "tests/unit/test_pricing.py",
            "tests/unit/test_pending_settles.py",
            "tests/integration/test_budget_promises.py",
            "tests/integration/test_unpriced_models.py",
            "tests/functional/test_usage_function.py",
        ),
    ),
    Target(
        "web",
        ("middleware.py", "identity.py", "web.py"),
        (
            "tests/unit/test_app_front.py",
            "tests/unit/test_web.py",
            "tests/unit/test_visitors.py",
            "tests/functional/test_bad_json.py",
            "tests/integration/test_sign_in.py",
        ),
        deselect="sees_only_their_own_usage or served_and_metered",  # as for auth
    ),
    Target(
        "auth",
        ("auth.py",),
        ("tests/unit/test_web.py", "tests/integration/test_sign_in.py"),
        # the two that chat through the local API (with the local model): minutes per mutant on a loaded machine
        deselect="sees_only_their_own_usage or served_and_metered",
    ),
    Target(
        "images",
        ("images/fetch.py",),
        (
            "tests/unit/test_image_addresses.py",
            "tests/integration/test_image_fetch_urls.py",
            "tests/integration/test_image_fetch_reading.py",
        ),
        # what decides whether a URL is fetched and how much is read (the Host header and the pinned URL are
        # checked by the integration tests against a real server, outside this target)
        only={
            "images/fetch.py": (
                *("address_refusal", "numeric_host", "ipv4_number", "parse_target", "refusal", "checked_address"),
                *("fetch_image", "get", "too_large"),
            )
        },
    ),
    Target(
        "faq",
        ("faq/service.py", "faq/index.py"),
        (
            "tests/unit/test_faq_service.py",
            "tests/unit/test_faq_index.py",
            "tests/unit/test_faq_accuracy.py",
            "tests/functional/test_faq_function.py",
        ),
        # the threshold, the index that is answered from, and the ranking the threshold is applied to
        only={
            "faq/service.py": ("threshold_for", "answer", "embed", "get", "_refresh", "_keep"),
            "faq/index.py": ("match", "_scores", "top_indices"),
        },
    ),
)
