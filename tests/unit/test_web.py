"""Who is calling: API key id, then authorizer principal, then source IP."""

import json

import pytest

from airelay.web import aws_context, identity_of


def scope_with(context=None, client=("10.0.0.9", 1234), header=None):
    scope = {"headers": [], "client": client, "state": {}}
    if header is not None:
        scope["headers"].append((b"x-amzn-request-context", header))
    if context is not None:
        scope["aws.event"] = {"requestContext": context}
    scope["state"]["aws_context"] = aws_context(scope)
    return scope


@pytest.mark.parametrize(
    "context,expected",
    [
        ({"identity": {"apiKeyId": "abc", "sourceIp": "203.0.113.1"}}, "key:abc"),
        ({"authorizer": {"principalId": "user-7"}, "identity": {"sourceIp": "203.0.113.1"}}, "user:user-7"),
        ({"authorizer": {"claims": {"sub": "cognito-sub"}}}, "user:cognito-sub"),
        ({"authorizer": {"jwt": {"claims": {"sub": "jwt-sub"}}}}, "user:jwt-sub"),
        ({"identity": {"sourceIp": "203.0.113.1"}}, "ip:203.0.113.1"),
        ({"identity": {"apiKeyId": "app-key"}, "authorizer": {"principalId": "user-9"}}, "user:user-9"),
    ],
)
def test_identity_from_the_api_gateway_context(context, expected):
    assert identity_of(scope_with(context)) == expected


def test_identity_from_the_web_adapter_header():
    header = json.dumps({"requestId": "r1", "identity": {"apiKeyId": "k9"}}).encode()
    assert identity_of(scope_with(header=header)) == "key:k9"


def test_identity_falls_back_to_the_socket_peer_and_survives_a_bad_header():
    assert identity_of(scope_with(header=b"{not json")) == "ip:10.0.0.9"
    assert identity_of(scope_with(header=b"[1, 2]")) == "ip:10.0.0.9"
