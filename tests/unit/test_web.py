"""Who is calling: the source IP behind the API key id, from the front's request context; never an authorizer the
Gate did not verify, never a header the front did not set."""

import json

import pytest

from airelay.auth import holds_claim
from airelay.identity import Gate, Who, request_id_of, who_from
from airelay.settings import Settings
from airelay.visitors import Visitor

BEHIND_ADAPTER = Settings(lambda_exec_wrapper="/opt/bootstrap")


def who(context=None, client=("10.0.0.9", 1234), header=None, settings=BEHIND_ADAPTER):
    scope = {"headers": [], "client": client}
    if header is not None:
        scope["headers"].append((b"x-amzn-request-context", header))
    if context is not None:
        scope["aws.event"] = {"requestContext": context}
    return who_from(Gate(settings).request_context(scope), scope)


@pytest.mark.parametrize(
    "context,expected",
    [
        ({"identity": {"apiKeyId": "abc", "sourceIp": "203.0.113.1"}}, "ip:203.0.113.1@abc"),
        ({"identity": {"sourceIp": "203.0.113.1"}}, "ip:203.0.113.1"),
        ({"authorizer": {"principalId": "user-7"}, "identity": {"sourceIp": "203.0.113.1"}}, "ip:203.0.113.1"),
        ({"authorizer": {"claims": {"sub": "cognito-sub"}}}, "ip:10.0.0.9"),
        ({"identity": {"apiKeyId": "app-key"}, "authorizer": {"principalId": "user-9"}}, "ip:10.0.0.9@app-key"),
        ({"identity": {"apiKeyId": 5, "sourceIp": ["x"]}}, "ip:10.0.0.9"),
        ({"identity": {"apiKeyId": "k", "sourceIp": "2001:db8:5:6:7:8:9:a"}}, "ip:2001:db8:5:6::/64@k"),
    ],
)
def test_identity_from_the_api_gateway_context(context, expected):
    assert who(context).identity == expected


def test_identity_from_the_web_adapter_header():
    header = json.dumps({"requestId": "r1", "identity": {"apiKeyId": "k9"}}).encode()
    assert who(header=header).identity == "ip:10.0.0.9@k9"


def test_the_header_is_not_read_where_no_web_adapter_set_it():
    header = json.dumps({"identity": {"apiKeyId": "k9", "sourceIp": "6.6.6.6"}}).encode()
    assert who(header=header, settings=Settings()).identity == "ip:10.0.0.9"


@pytest.mark.parametrize("header", [b"{not json", b"[1, 2]", b'"x"', b"null", b'{"identity": "x"}', b"[" * 5000])
def test_identity_falls_back_to_the_socket_peer_and_survives_a_bad_header(header):
    assert who(header=header).identity == "ip:10.0.0.9"


@pytest.mark.parametrize("given", [5, None, "", "a b", "abc\r\nset-cookie: x=1", "é", "a" * 129])
def test_an_unsafe_request_id_is_replaced_with_a_fresh_one(given):
    fresh = request_id_of({"requestId": given})
    assert fresh != given and len(fresh) == 32 and fresh.isalnum()


def test_a_plain_request_id_is_kept():
    assert (
        request_id_of({"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}) == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    )


@pytest.mark.parametrize(
    "claims,held",
    [
        ({"cognito:groups": ["staff", "ops"]}, True),
        ({"cognito:groups": ["staff"]}, False),
        ({"cognito:groups": "ops"}, True),
        ({"cognito:groups": "staff ops"}, True),
        ({"cognito:groups": "devops"}, False),
        ({"cognito:groups": {"ops": True}}, False),
        ({}, False),
    ],
)
def test_the_operator_claim_is_held_by_value_list_or_word(claims, held):
    assert holds_claim(claims, ("cognito:groups", "ops")) is held
    assert holds_claim(claims, None) is False


@pytest.mark.parametrize(
    "who_is,expected",
    [
        ({"api_key_id": "web"}, "ip:10.0.0.9@web"),
        ({"api_key_id": "web", "visitor": Visitor("v-1")}, "visitor:v-1@web"),
        ({"visitor": Visitor("v-1")}, "visitor:v-1"),
        ({"api_key_id": "srv", "server_key": True, "visitor": Visitor("v-1")}, "key:srv"),
        ({"api_key_id": "web", "visitor": Visitor("v-1"), "user": "u-7"}, "user:u-7"),
        ({"source_ip": "2001:db8:1:2::99", "api_key_id": "web"}, "ip:2001:db8:1:2::/64@web"),
    ],
)
def test_the_identity_is_the_user_else_a_servers_key_else_the_visitor_behind_the_key(who_is, expected):
    assert Who(**{"source_ip": "10.0.0.9", **who_is}).identity == expected
