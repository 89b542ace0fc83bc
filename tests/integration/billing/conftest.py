"""The /v1 fixtures on the fault-injecting upstream (tests/integration/openai_api/conftest.py), shared here; the local
API comes from tests/integration/conftest.py."""

import pytest

from tests.integration.openai_api.conftest import client, start, upstream

__all__ = ["chat_api", "client", "start", "upstream"]


@pytest.fixture
def chat_api(local_api, upstream):
    """The local API on the fault-injecting upstream, no SDK retries; `settings` add to or replace these."""

    def make(**settings):
        defaults = {
            "CHAT_MODEL": "openai/gpt-4o-mini",
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "sk-test",
            "UPSTREAM_MAX_RETRIES": 0,
        }
        return local_api(**{**defaults, **settings})

    return make
