"""On AWS the OpenAI key lives in SSM Parameter Store: the function reads it by name at first use and caches it."""

import boto3
import httpx
import pytest

from tests.support.aws import moto_server
from tests.support.upstream import FakeUpstream

PARAM = "/airelay/openai-api-key"


@pytest.fixture
def ssm(monkeypatch):
    with moto_server(monkeypatch):
        yield boto3.client("ssm")


def test_key_is_read_from_ssm_by_name_and_sent_upstream(local_api, ssm):
    ssm.put_parameter(Name=PARAM, Value="sk-from-ssm-1", Type="SecureString")
    with FakeUpstream() as upstream:
        api = local_api(CHAT_MODEL="openai/gpt-4o-mini", OPENAI_BASE_URL=upstream.base_url, OPENAI_API_KEY_PARAM=PARAM)
        assert httpx.post(f"{api}/api/chat", json={"message": "hi"}, timeout=10).status_code == 200
        ssm.put_parameter(Name=PARAM, Value="sk-from-ssm-2", Type="SecureString", Overwrite=True)
        assert httpx.post(f"{api}/api/chat", json={"message": "hi"}, timeout=10).status_code == 200
        auth = [h["authorization"] for h in upstream.request_headers]
    assert auth == ["Bearer sk-from-ssm-1"] * 2  # read once per container, then cached


@pytest.mark.upstream_failure  # the key's parameter is missing from SSM: 503
def test_missing_parameter_is_a_safe_503(local_api, ssm):
    api = local_api(CHAT_MODEL="openai/gpt-4o-mini", OPENAI_API_KEY_PARAM="/airelay/not-there")
    response = httpx.post(f"{api}/api/chat", json={"message": "hi"}, timeout=10)
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "provider_unavailable",
        "message": "The model provider's key could not be read.",
    }
    assert "not-there" not in response.text
