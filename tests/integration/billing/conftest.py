"""The /v1 fixtures on the fault-injecting upstream (tests/integration/openai_api/conftest.py), shared here; the local
API comes from tests/integration/conftest.py."""

from tests.integration.openai_api.conftest import client, start, upstream

__all__ = ["client", "start", "upstream"]
