"""What a warm request costs in calls out of the container, per function behind the API.

A call out that need not be made costs every request its round trip: after a SnapStart restore, a provider key
parameter that nothing used (HF_TOKEN_PARAM's default) once made every classify request read SSM (8 ms), and the
visitor token secret was read by each restored environment's first request.

Each function runs in a fresh process (child.py here) in its folder, with its template.yaml
environment (bench/coldstart.template_env), against the stand-ins bench/coldstart.stand_ins starts on 127.0.0.1:
dynalite (DynamoDB: the usage table), moto (S3: the FAQ bucket and its index; SSM: the OpenAI key), the fake upstream
(the chat model). Unlike the benchmark, the provider key is NOT given in OPENAI_API_KEY: it is read from the SSM
parameter the template names, as on AWS; HF_TOKEN_PARAM keeps the template's default, a parameter that does not exist
(the case of the original bug). The credentials come from a container credentials endpoint on 127.0.0.1, as a
SnapStart-restored Lambda gets them, so a credential fetch on the request path would show as well.

The child runs INIT, the SnapStart hooks (before_snapshot, then after_restore, as bench/coldstart_child does), then two
requests with the function's event from events/; it records every botocore API call (any client, any session) and
every socket connect / sendto / getaddrinfo, by phase. Two more cases send a visitor token whose secret is in SSM
(VISITOR_TOKEN_SECRET_PARAM). test_every_warm_request_... checks the second request (the steady state: what every
request of a warm container costs); test_first_request_after_restore_... checks the first (what the restore hooks left
to the user's first request). Each asserts, for its request:
- the answer is a 200;
- the AWS calls are only the ones the request must make: DynamoDB data-plane operations on the function's own tables
  (the usage ledger; the Responses store where it applies), and for the usage dashboard only reads. No SSM, STS, S3
  (the FAQ index is re-checked with one HEAD at most every FAQ_RELOAD_CHECK_S = 30 s, documented in
  faq/service.IndexHolder; the two requests come well inside that), no control-plane DynamoDB call;
- every connection and name lookup goes to a stand-in that the request is allowed to reach (dynalite; the fake
  upstream where a chat model answers) and nowhere else (no moto = no S3/SSM/STS, no public host);
and test_every_warm_request_... also:
- the second request makes no AWS call the first did not (the FAQ's second one makes fewer: its question vector is
  cached, so no embedding is metered);
- no request to the credentials endpoint after the restore's (the import's and the restore's fetches only);
- the model upstream gets exactly the chat requests the route needs (1 for chat and /v1/chat/completions, 0 for the
  in-process models);
- the second request opens no new connection to the upstream (its pool kept alive across requests).
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import coldstart
from bench.template_functions import code_folder, served_by_web_adapter

ROOT = Path(__file__).resolve().parents[3]
PYTHON = ROOT / ".venv" / "bin" / "python"
CHILD = Path(__file__).with_name("child.py")
TEMPLATE = ROOT / "template.yaml"
OPENAI_KEY_PARAM = "/airelay/openai-api-key"  # the template's default OpenAIKeyParameterName
CREDENTIALS_TOKEN = "calls-out-container-token"

# DynamoDB operations a request may make on its own tables (the ledger's reserve / settle / refusal counters, the
# usage dashboard's reads, the Responses store). Control-plane calls (DescribeTable, ...) are never per request.
DYNAMODB_DATA = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
}
DYNAMODB_READS = {"GetItem", "Query", "BatchGetItem", "TransactGetItems"}


class Case:
    def __init__(
        self, name: str, upstream_requests: int, operations=DYNAMODB_DATA, tables=("USAGE_TABLE",), visitor=False
    ) -> None:
        self.name = name
        self.upstream_requests = upstream_requests  # chat requests the fake upstream gets per answer
        self.operations = operations
        self.tables = tables  # environment variables naming the tables it may touch
        self.visitor = visitor  # the request carries a visitor token; the secret is in SSM (VISITOR_TOKEN_SECRET_PARAM)

    def __repr__(self) -> str:
        return self.name + ("-visitor" if self.visitor else "")


CASES = [
    Case("ChatFunction", 1),
    Case("OpenAIFunction", 1, tables=("USAGE_TABLE", "RESPONSES_TABLE")),
    Case("SentimentFunction", 0),
    Case("ClassifyFunction", 0),
    Case("FaqFunction", 0),  # the event's question matches an FAQ entry: no chat model is asked
    Case("UsageFunction", 0, operations=DYNAMODB_READS),
    # A visitor token checked against the secret in SSM (identity.py visitor_of / read_secret): the secret is cached
    # for max_age=300 s (a documented periodic read), so no request within 5 minutes of the last read reads SSM.
    Case("ChatFunction", 1, visitor=True),
    Case("SentimentFunction", 0, visitor=True),
]
VISITOR_SECRET_PARAM = "/airelay/calls-out-visitor-secret"
VISITOR_SECRET = "calls-out-visitor-secret-0123456789abcdef"


class CredentialsEndpoint:
    """A container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) on 127.0.0.1 that counts its requests."""

    def __init__(self) -> None:
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests += 1
                expires = (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
                body = json.dumps(
                    {"AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing", "Expiration": expires}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/credentials"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def stand_ins():
    """bench/coldstart's stand-ins (one tree: this one), the fake upstream kept at hand, the OpenAI key in SSM."""
    import boto3

    import tests.support.upstream as upstream_module

    made = []

    class KeptUpstream(upstream_module.FakeUpstream):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(upstream_module, "FakeUpstream", KeptUpstream)
        envs, endpoints = stack.enter_context(coldstart.stand_ins({"after": ROOT}))
        credentials = stack.enter_context(CredentialsEndpoint())
        ssm = boto3.client("ssm", endpoint_url=endpoints["moto"])
        ssm.put_parameter(Name=OPENAI_KEY_PARAM, Type="SecureString", Value="sk-calls-out-from-ssm")
        ssm.put_parameter(Name=VISITOR_SECRET_PARAM, Type="SecureString", Value=VISITOR_SECRET)
        env = dict(envs["after"])
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(name, None)  # credentials from the container endpoint, as after a SnapStart restore
        env |= {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": CREDENTIALS_TOKEN,
            "OPENAI_API_KEY": "",  # the key is read from SSM (OPENAI_API_KEY_PARAM from the template)
        }
        del env["OPENAI_API_KEY_PARAM"]  # the template's value stands
        yield {"env": env, "endpoints": endpoints, "upstream": made[0], "credentials": credentials}


def visitor_event(name: str, folder: Path) -> tuple[Path, dict]:
    """The function's event with a visitor token (minted with the secret the SSM parameter holds), and the
    environment that makes the function check it against that parameter."""
    from airelay.visitors import mint

    event = json.loads((ROOT / "events" / f"{coldstart.EVENTS[name]}.json").read_text("utf-8"))
    audience = coldstart.template_env(ROOT, name)["VISITOR_TOKEN_AUDIENCE"]
    token = mint(VISITOR_SECRET, "calls-out-visitor", audience, ttl_s=600)
    event["headers"] = {**(event.get("headers") or {}), "x-visitor-token": token}
    if event.get("multiValueHeaders") is not None:
        event["multiValueHeaders"] = {**event["multiValueHeaders"], "x-visitor-token": [token]}
    path = folder / f"{name}-visitor.json"
    path.write_text(json.dumps(event), "utf-8")
    return path, {"VISITOR_TOKEN_SECRET_PARAM": VISITOR_SECRET_PARAM}


def run_function(
    stand_ins: dict, name: str, warm: int = 2, extra_env: dict | None = None, event: Path | None = None
) -> dict:
    function_dir = ROOT / "functions" / code_folder(TEMPLATE, name)
    web_adapter = served_by_web_adapter(TEMPLATE, name)
    env = coldstart.function_environment(ROOT, name, {**stand_ins["env"], **(extra_env or {})}, ROOT)
    env = {key: value for key, value in env.items() if value is not None}
    event = event or ROOT / "events" / f"{coldstart.EVENTS[name]}.json"
    upstream, credentials = stand_ins["upstream"], stand_ins["credentials"]
    upstream.reset()
    credentials_before = credentials.requests
    done = subprocess.run(
        [str(PYTHON), str(CHILD), str(event), "web-adapter" if web_adapter else "runtime", str(warm)],
        cwd=function_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"calls"')]
    assert done.returncode == 0 and lines, f"{name}: {(done.stderr or done.stdout)[-3000:]}"
    result = json.loads(lines[-1])["calls"]
    result["env"] = env
    result["upstream_requests"] = len(upstream.requests)
    result["credentials_requests_total"] = credentials.requests - credentials_before
    return result


def by_phase(result: dict, kind: str, phase: str) -> list[dict]:
    return [r for r in result["records"] if r["kind"] == kind and r["phase"] == phase]


def aws_calls(result: dict, phase: str) -> list[tuple[str, str, str]]:
    return sorted((r["service"], r["operation"], r["target"]) for r in by_phase(result, "aws", phase))


def peer_names(stand_ins: dict) -> dict[str, str]:
    names = {}
    for name, url in stand_ins["endpoints"].items():
        hostport = url.split("//", 1)[1].split("/", 1)[0]
        names[hostport] = name
    names[stand_ins["credentials"].url.split("//", 1)[1].split("/", 1)[0]] = "credentials"
    return names


@pytest.fixture(scope="module")
def runs(stand_ins, tmp_path_factory):
    """One child run per case, shared by the two tests below."""
    made = {}

    def run(case: Case) -> dict:
        if repr(case) not in made:
            folder = tmp_path_factory.mktemp("events")
            event, extra_env = visitor_event(case.name, folder) if case.visitor else (None, None)
            made[repr(case)] = run_function(stand_ins, case.name, extra_env=extra_env, event=event)
        return made[repr(case)]

    return run


def check_request(stand_ins: dict, case: Case, result: dict, phase: str) -> None:
    """The AWS calls, connections and name lookups of one request are only those the case allows."""
    assert result["hooks_ran"], f"{case!r}: no SnapStart hooks ran (snapshot_restore_py / airelay.snapstart)"
    assert result["statuses"] == [200, 200], result["bodies"]
    env = result["env"]
    tables = {env[variable] for variable in case.tables if env.get(variable)}
    calls = aws_calls(result, phase)
    unexpected = [c for c in calls if c[0] != "dynamodb" or c[1] not in case.operations or c[2] not in tables]
    assert not unexpected, f"{case!r}: request {phase} made AWS calls it need not make: {unexpected} (all: {calls})"
    names = peer_names(stand_ins)
    allowed_peers = {"dynalite"} | ({"upstream"} if case.upstream_requests else set())
    peers = collections.Counter(
        names.get(r["address"], r["address"])
        for r in by_phase(result, "connect", phase) + by_phase(result, "sendto", phase)
    )
    assert set(peers) <= allowed_peers, f"{case!r}: request {phase} connected to {dict(peers)}"
    lookups = {names.get(r["address"], r["address"]) for r in by_phase(result, "getaddrinfo", phase)}
    assert lookups <= allowed_peers, f"{case!r}: request {phase} looked up {lookups}"


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_warm_request_makes_only_the_calls_it_must(stand_ins, runs, case):
    """The steady state (the second request after the restore): what every request of a warm container costs."""
    result = runs(case)
    check_request(stand_ins, case, result, "warm2")
    first, second = aws_calls(result, "warm1"), aws_calls(result, "warm2")
    extra = collections.Counter(second) - collections.Counter(first)
    assert not extra, f"{case!r}: the second request made calls the first did not: {dict(extra)} ({first}, {second})"
    upstream_connects = [
        r for r in by_phase(result, "connect", "warm2") if peer_names(stand_ins).get(r["address"]) == "upstream"
    ]
    assert not upstream_connects, f"{case!r}: the second request opened a new connection to the model upstream"
    after = [c for c in aws_calls(result, "after") if c[0] != "dynamodb"]
    assert not after, f"{case!r}: calls left running after the answers: {after}"
    assert result["upstream_requests"] == 2 * case.upstream_requests, (
        f"{case!r}: the model upstream got {result['upstream_requests']} chat requests for two answers"
    )
    assert result["credentials_requests_total"] <= 2, (  # the import's clients, then the restore's: never a request
        f"{case!r}: {result['credentials_requests_total']} requests to the credentials endpoint"
    )


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_first_request_after_restore_makes_only_the_calls_it_must(stand_ins, runs, case):
    """The first request after the SnapStart restore (the cold start a user waits for): what the restore hooks could
    have done (renewing keys, clients, credentials) is not left to it."""
    check_request(stand_ins, case, runs(case), "warm1")
