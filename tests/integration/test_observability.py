"""Metrics and traces where the functions really run: a cancelled stream counted in its EMF document through the local
API, and Powertools' Tracer in a fresh interpreter with Lambda's environment, sending its segments to an X-Ray daemon
address on loopback (a UDP socket of the test), and sending nothing without that environment."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.upstream import FakeUpstream, Ok

REPO = Path(__file__).resolve().parents[2]
TRACE_ROOT = "1-6745a0c0-c77b06701a6759f487b44ee9"
LAMBDA_TRACE = f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
ADAPTER_TRACE_ROOT = "1-6745a0c1-0123456789abcdef01234567"


def emf_documents(lines):
    return [json.loads(line) for line in lines if line.startswith('{"_aws"')]


def test_a_stream_the_client_leaves_is_counted_as_a_cancellation(local_api, printed):
    # GIVEN the local API and a slow stream from a priced model
    with FakeUpstream() as upstream:
        api = local_api(CHAT_MODEL="openai/gpt-4o-mini", OPENAI_BASE_URL=upstream.base_url, OPENAI_API_KEY="sk-test")
        upstream.script(Ok(chunk_delay_s=0.1))
        # WHEN the client leaves after three text deltas
        deltas = 0
        with httpx.stream("POST", f"{api}/api/chat/stream", json={"message": "Say hello."}, timeout=15) as response:
            for line in response.iter_lines():
                deltas += '"text-delta"' in line
                if deltas == 3:
                    break
        # THEN the call's EMF document (printed once the call is settled) counts one cancellation and no failure
        deadline, documents = time.monotonic() + 10, []
        while not documents and time.monotonic() < deadline:
            documents += emf_documents(printed())
            time.sleep(0.05)
    [document] = documents
    assert (document["function"], document["model"], document["status"]) == ("chat", "openai/gpt-4o-mini", "cancelled")
    assert document["Cancellations"] == [1.0] and document["Failures"] == [0.0] and document["OutputTokens"][0] >= 3


# ---------------------------------------------------------------- the Tracer, as on Lambda and as locally

INVOKE_USAGE = """
import json, sys
sys.path[:0] = sys.argv[1:4]
import app
import boto3, botocore.config
from airelay.observability import tracer
from local.lambda_bridge import LambdaContext
response = app.handler(json.load(open(sys.argv[4])), LambdaContext("UsageFunction", "r1"))
# an AWS SDK call (to a closed port: it fails, and is traced all the same)
config = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=1)
ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=sys.argv[5], config=config,
                   aws_access_key_id="test", aws_secret_access_key="test")
try:
    ssm.get_parameter(Name="/airelay/probe")
except Exception:
    pass
print(json.dumps({"status": response["statusCode"], "tracing": not tracer.disabled}))
"""

CHAT_REQUEST_THEN_SDK_CALL = """
import asyncio, json, sys
sys.path[:0] = sys.argv[1:4]
import app
import boto3, botocore.config
import httpx

async def ask():
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://function") as client:
        return await client.get("/api/health", headers={"x-amzn-trace-id": sys.argv[4]})

print(json.dumps({"status": asyncio.run(ask()).status_code}))
config = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=1)
ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=sys.argv[5], config=config,
                   aws_access_key_id="test", aws_secret_access_key="test")
try:
    ssm.get_parameter(Name="/airelay/probe")
except Exception:
    pass
"""


@pytest.fixture
def daemon():
    """A UDP socket on loopback standing in for the X-Ray daemon; yields (address, the documents it received)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(0.2)
        received = []

        def documents():
            while True:
                try:
                    datagram = listener.recv(65536).decode()
                except TimeoutError:
                    return received
                header, _, body = datagram.partition("\n")  # the daemon's protocol: a JSON header line, then the body
                assert json.loads(header) == {"format": "json", "version": 1}
                received.append(json.loads(body))

        yield f"127.0.0.1:{listener.getsockname()[1]}", documents


def run_function(script, function, argument, environment):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_", "_X_AMZN", "POWERTOOLS_"))}
    env |= {"PYTHONPATH": str(REPO), **environment}
    paths = [str(REPO / "layers" / "core"), str(REPO / "functions" / function), str(REPO)]
    closed = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-c", script, *paths, argument, closed],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def lambda_environment(daemon_address, tmp_path, **more):
    return {
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "UsageFunction",
        "AWS_XRAY_DAEMON_ADDRESS": daemon_address,
        "USAGE_DB_PATH": str(tmp_path / "usage.sqlite3"),
        **more,
    }


def test_on_lambda_the_handler_and_sdk_calls_are_traced_without_the_answer(daemon, tmp_path):
    address, received = daemon
    # GIVEN Lambda's environment with active tracing: the function's root, the invocation's trace header, the daemon
    environment = lambda_environment(address, tmp_path, _X_AMZN_TRACE_ID=LAMBDA_TRACE)
    # WHEN the usage function answers an event, then the function makes an AWS SDK call
    outcome = run_function(INVOKE_USAGE, "usage", str(REPO / "events" / "usage_by_model.json"), environment)
    assert outcome == {"status": 200, "tracing": True}
    # THEN the handler's subsegment reached the daemon in the invocation's trace, annotated with the cold start and
    # the service, without the answer as metadata
    documents = received()
    [handler] = [d for d in documents if d["name"] == "## handler"]
    assert handler["trace_id"] == TRACE_ROOT and handler["parent_id"] == "53995c3f42cd8ad8"
    assert handler["annotations"] == {"ColdStart": True, "Service": "airelay"}
    assert "metadata" not in handler
    # AND boto3's call was traced too (botocore is patched)
    [sdk] = [d for d in documents if d["name"] == "ssm"]
    assert (sdk["trace_id"], sdk["namespace"], sdk["aws"]["operation"]) == (TRACE_ROOT, "aws", "GetParameter")


def test_under_the_web_adapter_the_trace_comes_from_the_request_header(daemon, tmp_path):
    address, received = daemon
    # GIVEN the chat function's app in Lambda's environment, where no _X_AMZN_TRACE_ID is set for it (the adapter runs
    # it as a child process) and the adapter passes each invocation's trace header instead
    environment = lambda_environment(address, tmp_path, AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap")
    header = f"Root={ADAPTER_TRACE_ROOT};Parent=0123456789abcdef;Sampled=1"
    # WHEN a request with the header is served, then an AWS SDK call is made
    assert run_function(CHAT_REQUEST_THEN_SDK_CALL, "chat", header, environment) == {"status": 200}
    # THEN the SDK call was traced in that invocation's trace
    [sdk] = [d for d in received() if d["name"] == "ssm"]
    assert sdk["trace_id"] == ADAPTER_TRACE_ROOT and sdk["parent_id"] == "0123456789abcdef"


def test_off_lambda_the_tracer_is_off_and_sends_nothing(daemon, tmp_path):
    address, received = daemon
    # GIVEN the same, but without Lambda's LAMBDA_TASK_ROOT (as under `make dev` and in the tests)
    environment = lambda_environment(address, tmp_path, _X_AMZN_TRACE_ID=LAMBDA_TRACE)
    del environment["LAMBDA_TASK_ROOT"]
    # WHEN the usage function answers and an AWS SDK call is made
    outcome = run_function(INVOKE_USAGE, "usage", str(REPO / "events" / "usage_by_model.json"), environment)
    # THEN Powertools turned the Tracer off by itself, and nothing reached the daemon
    assert outcome == {"status": 200, "tracing": False}
    assert received() == []


INVOKE_INDEXER = """
import contextlib, io, json, sys
sys.path[:0] = sys.argv[1:4]
import app
from local.lambda_bridge import LambdaContext
event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                      "s3": {"bucket": {"name": "faq"}, "object": {"key": "index/faq-index.bin"}}}]}
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    answer = app.handler(event, LambdaContext("FaqIndexerFunction", "r1"))
print(json.dumps({"answer": answer, "printed": printed.getvalue().splitlines()}))
"""


def test_the_faq_indexer_alone_in_its_container_prints_its_cold_start(tmp_path):
    # GIVEN a fresh interpreter that loads only the indexer, without POWERTOOLS_METRICS_NAMESPACE (as locally)
    environment = {"USAGE_DB_PATH": str(tmp_path / "usage.sqlite3")}
    # WHEN it handles an upload outside the source prefix
    outcome = run_function(INVOKE_INDEXER, "faq_indexer", "-", environment)
    # THEN it answers, and printed its cold-start metric in the configured namespace (settings' default)
    assert outcome["answer"] == {"built": [], "rejected": [], "skipped": ["index/faq-index.bin"]}
    [document] = [json.loads(line) for line in outcome["printed"] if line.startswith('{"_aws"')]
    assert document["ColdStart"] == [1.0] and document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Airelay"


# ---------------------------------------------------------------- the chat function as the Web Adapter starts it


def test_the_chat_function_started_by_run_sh_prints_json_lines_only(tmp_path):
    # GIVEN run.sh, started as the Web Adapter starts it, at LOG_LEVEL=INFO (uvicorn reports its start and stop)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_", "POWERTOOLS_"))}
    env |= {
        "AWS_LWA_PORT": str(port),
        "AIRELAY_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO / "layers" / "core"),
        "USAGE_DB_PATH": str(tmp_path / "usage.sqlite3"),
        "LOG_LEVEL": "INFO",
    }
    server = subprocess.Popen(
        ["bash", str(REPO / "functions" / "chat" / "run.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        # WHEN it answers the adapter's readiness check, then stops
        deadline, ready = time.monotonic() + 60, False
        while not ready and time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    # THEN everything it printed, uvicorn's lines included, is Powertools' JSON
    lines = [json.loads(line) for line in output.splitlines()]
    assert all(line["service"] == "airelay" for line in lines)
    started = [line for line in lines if line["message"] == "Application startup complete."]
    assert started and started[0]["name"] == "uvicorn.error" and started[0]["level"] == "INFO"
