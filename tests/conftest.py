import sys
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


class CurrentStdout:
    """Writes to whatever sys.stdout is at the moment: pytest swaps it between a test's phases."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def printed(capsys):
    """What the functions print to stdout, which CloudWatch Logs receives on Lambda: Powertools' JSON log lines and
    EMF metric documents. Read as Powertools' docs test them (capsys); its Logger keeps the stream it was made with,
    so for the test it writes to the current one. Calling the fixture returns the lines printed since the last call."""
    from airelay.observability import logger

    handler = logger.registered_handler
    made_with = handler.setStream(CurrentStdout())
    yield lambda: capsys.readouterr().out.splitlines()
    handler.setStream(made_with)
