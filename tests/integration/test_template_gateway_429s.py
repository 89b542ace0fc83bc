"""API Gateway's own 429s, before any function runs, tell the OpenAI SDKs what to do as airelay's own do: the usage plan's
throttle (THROTTLED) carries a Retry-After, its spent daily quota (QUOTA_EXCEEDED) `x-should-retry: false`. Read from
template.yaml as written."""

from tests.support.template import raw

__all__ = ["raw"]


def gateway_responses(template: dict) -> dict:
    return template["Resources"]["AirelayApi"]["Properties"]["GatewayResponses"]


def headers_of(response: dict) -> dict:
    return {k.lower(): v for k, v in response.get("ResponseParameters", {}).get("Headers", {}).items()}


def test_the_usage_plans_throttle_answers_retry_after(raw):
    throttled = headers_of(gateway_responses(raw)["THROTTLED"])
    assert "retry-after" in throttled, throttled


def test_the_usage_plans_spent_quota_tells_the_sdks_not_to_retry(raw):
    responses = gateway_responses(raw)
    quota = headers_of(responses.get("QUOTA_EXCEEDED", {}))
    assert quota.get("x-should-retry") == "'false'" or "retry-after" in quota, quota
