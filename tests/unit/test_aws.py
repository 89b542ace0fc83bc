"""The container's AWS clients (airelay.aws): the SDK's own configuration, airelay's timeouts, made at INIT only when
the settings call AWS, dropped by reset(). No network: requests are answered by a botocore `before-send` handler."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from airelay import aws
from airelay.settings import get_settings

LAYER = Path(__file__).resolve().parents[2] / "layers" / "core"
SDK_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE")


@pytest.fixture
def sdk_env(monkeypatch):
    for name in SDK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    get_settings.cache_clear()
    aws.reset()
    yield monkeypatch
    get_settings.cache_clear()
    aws.reset()


def test_the_sdks_own_configuration_is_honoured_and_airelay_sets_only_its_timeouts(sdk_env):
    # GIVEN the SDK's settings in the environment, as an operator would set them on the function
    sdk_env.setenv("AWS_MAX_ATTEMPTS", "7")
    sdk_env.setenv("AWS_RETRY_MODE", "adaptive")
    sdk_env.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    sdk_env.setenv("AIRELAY_AWS_READ_TIMEOUT_S", "3.5")
    get_settings.cache_clear()
    aws.reset()
    # WHEN the container's clients are made
    dynamodb, s3 = aws.clients().dynamodb, aws.clients().s3
    # THEN they follow the SDK's settings
    assert dynamodb.meta.region_name == "eu-west-1"
    assert dynamodb.meta.endpoint_url == "https://dynamodb-fips.eu-west-1.amazonaws.com"
    assert s3.meta.endpoint_url == "https://s3-fips.eu-west-1.amazonaws.com"
    assert dynamodb.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
    # AND airelay's own choices: the timeouts of one attempt, keep-alive, the pool size, no client-side validation
    config = dynamodb.meta.config
    assert (config.connect_timeout, config.read_timeout, config.tcp_keepalive) == (1.0, 3.5, True)
    assert config.max_pool_connections == aws.POOL_CONNECTIONS


def test_without_sdk_settings_retries_are_the_sdks_standard_mode(sdk_env):
    assert aws.clients().dynamodb.meta.config.retries == {"mode": "standard"}  # 4 attempts for DynamoDB, a retry quota
    assert aws.clients().dynamodb.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_an_endpoint_for_one_service_is_used_for_that_service(sdk_env):
    sdk_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    aws.reset()
    assert aws.clients().dynamodb.meta.endpoint_url == "http://127.0.0.1:8000"
    assert aws.clients().s3.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"


def test_requests_go_out_without_client_side_parameter_validation(sdk_env):
    # GIVEN a request botocore's validation would refuse before sending (Limit must be an integer)
    sent = []

    def answer(request, **_):
        sent.append(request.url)
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, FakeRaw(b"{}"))

    client = aws.clients().dynamodb
    client.meta.events.register("before-send.dynamodb.Query", answer)
    # WHEN it is sent THEN it reaches the service, which validates it itself
    client.query(TableName="usage", KeyConditionExpression="pk = :pk", Limit="ten")
    assert len(sent) == 1


def answer_parameters(values: list[str]):
    """A before-send handler that answers SSM GetParameter with the next value; counts the reads."""

    def answer(request, **_):
        value = values.pop(0)
        body = json.dumps({"Parameter": {"Name": "/airelay/key", "Type": "SecureString", "Value": value}}).encode()
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.1"}, FakeRaw(body))

    return answer


class FakeRaw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_, **__):
        yield self.body


def test_reset_drops_the_clients_and_what_they_cached(sdk_env):
    # GIVEN a key read through the container's SSM parameters provider (cached for 5 minutes)
    aws.prepare("ssm")
    first_client = aws.clients().client("ssm")
    first_client.meta.events.register("before-send.ssm.GetParameter", answer_parameters(["sk-first"]))
    assert aws.clients().parameters.get("/airelay/key", decrypt=True, max_age=300) == "sk-first"
    assert aws.clients().parameters.get("/airelay/key", decrypt=True, max_age=300) == "sk-first"  # cached
    # WHEN the clients are reset and made again at once (a SnapStart restore hook) and SSM holds a new value
    aws.prepare(*aws.reset())
    second_client = aws.clients().client("ssm")
    second_client.meta.events.register("before-send.ssm.GetParameter", answer_parameters(["sk-second"]))
    # THEN a new client reads it again
    assert second_client is not first_client
    assert aws.clients().parameters.get("/airelay/key", decrypt=True, max_age=300) == "sk-second"


def made_at_import(environment: dict, modules: list[str]) -> dict:
    """Imports `modules` in a fresh interpreter with this environment, as a function's INIT does."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from airelay import aws\n"
        "made = sorted(aws._clients._made) if aws._clients else []\n"
        "print(json.dumps({'boto3': 'boto3' in sys.modules, 'made': made}))\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "USAGE_", "FAQ_", "OPENAI_", "HF_"))
    }
    # the region and keys Lambda sets (without keys, boto3 would look for an instance role on the network)
    env.update(
        PYTHONPATH=str(LAYER),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        **environment,
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


EVERY_FUNCTION = [
    "airelay.routers.chat",
    "airelay.routers.sentiment",
    "airelay.routers.classify",
    "airelay.routers.faq",
    "airelay.routers.usage",
    "airelay.faq.indexer",
]


@pytest.mark.parametrize(
    ("environment", "modules", "expected"),
    [
        ({}, EVERY_FUNCTION, {"boto3": False, "made": []}),
        ({"USAGE_TABLE": "usage"}, ["airelay.routers.usage"], {"boto3": True, "made": ["dynamodb"]}),
        (
            {"USAGE_TABLE": "usage", "FAQ_INDEX_URL": "s3://bucket/index.bin", "OPENAI_API_KEY_PARAM": "/key"},
            ["airelay.faq.indexer"],
            {"boto3": True, "made": ["dynamodb", "s3", "ssm"]},
        ),
        (
            {"USAGE_TABLE": "usage", "OPENAI_API_KEY": "sk-local"},
            ["airelay.routers.chat"],
            {"boto3": True, "made": ["dynamodb"]},
        ),
    ],
    ids=["local-settings", "usage-function", "faq-indexer", "chat-with-its-key-given"],
)
def test_the_clients_a_function_will_call_are_made_when_it_is_imported(environment, modules, expected):
    assert made_at_import(environment, modules) == expected
