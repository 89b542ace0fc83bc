from pathlib import Path

import pytest

from tests.support import server_errors

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "upstream_failure: the server answers 5xx on purpose in this test, because something behind it fails "
        "(a model provider, a store, the configuration); tests without it fail on any 5xx",
    )
    server_errors.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """No request in the test suite gets a 5xx, except in the tests marked upstream_failure (which must get one)."""
    server_errors.start()
    result = yield
    problem = server_errors.verdict(server_errors.collect(), item.get_closest_marker("upstream_failure") is not None)
    if problem:
        pytest.fail(problem, pytrace=False)
    return result
