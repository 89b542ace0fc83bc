"""Fixtures of the tiers these tests use: the functional tier's settings and fake upstream, the integration tier's
local API (real uvicorn, as the Lambda Web Adapter serves the chat function)."""

from tests.functional.conftest import clean_settings, fake_upstream, upstream  # noqa: F401
from tests.integration.conftest import local_api  # noqa: F401
