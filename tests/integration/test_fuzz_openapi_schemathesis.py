"""Fuzzing every function's OpenAPI document through the local API (schemathesis): no 5xx, and every answer — its
status, content type, headers and body — is one the document declares; invalid input is refused with a 4xx.

GIVEN each function's own OpenAPI document (its FastAPI app's `app.openapi()`: the apps serve no /openapi.json and
the local API serves only the template's routes), plus a few known-good request examples added here so that the
success paths answer 200 and their bodies are checked too; a healthy fake upstream for chat, a real FAQ index, the
local sentiment and image models,
WHEN schemathesis (its CLI, in a subprocess) runs its examples, coverage and fuzzing phases against the local API,
THEN no answer is a 5xx, each conforms to the declared responses, and every operation answered 200 at least once.

Nothing may leave the machine while image URLs are fuzzed: the fetcher refuses private and loopback addresses but
would fetch a public one. So (1) host names never reach DNS: `getaddrinfo` runs with AI_NUMERICHOST (the same
argument checks, no lookup; a name fails as an unknown host does: 422 image_fetch_failed), and (2) EgressGuard
refuses and records every connect to a non-loopback address (a generated `http://8.8.8.8/` then fails as an
unreachable URL: 422 image_fetch_failed, never a 5xx). Both patches hold for the image fetcher: it runs in the
classify function's Mangum container, on a plain asyncio loop (uvloop, under the chat function, bypasses them, but
chat only talks to the fake upstream on 127.0.0.1). Afterwards every refused connect must have been to a public
address (the fetcher never tried an internal one) and every loopback connect must have gone to the local API or
the fake upstream.

Deterministic: `--generation-deterministic` (Hypothesis derandomized, a fixed seed per operation, no example
database). Each run's report is written to test-output/fuzz/<function>.txt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from airelay.faq.build import build_to
from airelay.providers import registry
from local.template import ROOT
from tests.support.no_egress import EgressGuard
from tests.support.openapi_documents import FUNCTIONS, UPLOAD, document_of
from tests.support.photos import small_jpeg_base64
from tests.support.state import forget_bots
from tests.support.upstream import FakeUpstream

FAQ_SOURCE = ROOT / "layers" / "core" / "airelay" / "data" / "faq" / "shop_faq.yaml"
OUTPUT = ROOT / "test-output" / "fuzz"
MAX_EXAMPLES = 50  # per operation and phase
# Read whole event streams (the default stops after 20 events, before the usage and finish parts); the statuses
# that refuse invalid input here (schemathesis' default list lacks 413: a body over MAX_BODY_BYTES).
CONFIG = """
max-stream-events = 500

[checks.negative_data_rejection]
expected-statuses = [400, 401, 413, 415, 422]
"""
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


# image URLs that take the fetch path without any traffic: a name (refused by the DNS guard: 422 image_fetch_failed)
# and internal addresses (refused by the fetcher's policy before any connect: 422 image_url_refused)
FETCH_NAME = "images.invalid"
FETCHES = [
    {"image_url": url}
    for url in (
        f"http://{FETCH_NAME}/cat.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://0x7f.1:8080/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://example.test/x",
    )
]


def examples() -> dict[tuple[str, str, str], list]:
    """(method, path, media type) -> request bodies for the examples phase: ones that succeed (so every success path
    answers 200 and its body is checked) and, for classify, image URLs that take the fetch path."""
    chat = {
        "message": "Say hello.",
        "persona": "code_teacher",
        "max_tokens": 50,
        "temperature": 0.7,
        "conversation_history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    }
    ui = {
        "id": "c1",
        "trigger": "submit-message",
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "안녕하세요?"}]}],
    }
    return {
        ("post", "/api/chat", "application/json"): [chat],
        ("post", "/api/chat/stream", "application/json"): [chat, ui],
        ("post", "/api/sentiment", "application/json"): [
            {"text": "배송도 빠르고 음식이 정말 맛있었어요."},
            {"text": "The battery died after a day."},
        ],
        ("post", "/api/image/classify", "application/json"): [{"image_base64": small_jpeg_base64()}, *FETCHES],
        ("post", "/v1/chat/completions", "application/json"): [
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20},
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
        ],
        ("post", "/v1/responses", "application/json"): [
            {"model": "gpt-4o-mini", "input": "Hi", "instructions": "Be brief."},
            {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "Hi"}], "stream": True},
        ],
        ("post", "/v1/embeddings", "application/json"): [
            {"model": "local/use-multilingual", "input": ["안녕하세요", "hello"]},
        ],
        ("post", "/api/faq", "application/json"): [
            {"question": "배송비가 얼마예요?", "top_k": 3},
            {"question": "What is the capital of Mongolia?"},
        ],
    }


def with_examples(document: dict) -> dict:
    for (method, path, media_type), bodies in examples().items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is not None:
            content = operation["requestBody"]["content"][media_type]
            content["examples"] = {f"example{i}": {"value": body} for i, body in enumerate(bodies)}
    usage = document["paths"].get("/api/usage", {}).get("get")
    if usage is not None:
        for parameter in usage["parameters"]:
            parameter["example"] = {"days": 7, "by": "model", "from": "2026-01-01", "to": "2026-01-31"}[
                parameter["name"]
            ]
    return document


@contextmanager
def no_dns():
    """getaddrinfo without DNS: addresses (and `localhost`) resolve, names fail as unknown hosts; names recorded."""
    real = socket.getaddrinfo
    names: list[str] = []

    def numeric_only(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        if name == "localhost":
            host = "127.0.0.1"
        elif isinstance(name, str):
            try:
                ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                names.append(name)
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    socket.getaddrinfo = numeric_only
    try:
        yield names
    finally:
        socket.getaddrinfo = real


@dataclass
class Stack:
    url: str
    upstream: FakeUpstream
    guard: EgressGuard
    names: list[str]


@pytest.fixture(scope="module")
def faq_index(tmp_path_factory) -> str:
    url = f"file://{tmp_path_factory.mktemp('faq')}/faq-index.bin"
    embedder = asyncio.run(registry.embedder("local/use-multilingual"))
    asyncio.run(build_to(str(FAQ_SOURCE), url, embedder))
    return url


@pytest.fixture
def stack(local_api, faq_index):
    forget_bots()
    with FakeUpstream() as upstream, no_dns() as names, EgressGuard() as guard:
        url = local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            FAQ_INDEX_URL=faq_index,
            UPSTREAM_TIMEOUT_S=10,
            IMAGE_FETCH_TIMEOUT_S=2,
        )
        yield Stack(url, upstream, guard, names)
    forget_bots()
    # THEN nothing left the machine, and the image fetcher tried no internal address
    ports = {int(url.rsplit(":", 1)[1]), upstream.port}
    elsewhere = [(host, port) for host, port in guard.allowed if port not in ports]
    assert not elsewhere, f"loopback connects to something else than the API or the upstream: {elsewhere}"
    internal = [(host, port) for host, port in guard.blocked if not ipaddress.ip_address(host).is_global]
    assert not internal, f"the image fetcher tried internal addresses: {internal}"
    assert not upstream.errors


def statuses(har_path) -> Counter:
    entries = json.loads(har_path.read_text("utf-8"))["log"]["entries"]
    return Counter(
        (e["request"]["method"], urlsplit(e["request"]["url"]).path, e["response"]["status"]) for e in entries
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_server_errors_and_every_answer_is_declared(stack, tmp_path, name):
    # GIVEN the function's own OpenAPI document, with request examples that must succeed
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(with_examples(document_of(name))), "utf-8")
    har = tmp_path / "requests.har"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, "utf-8")
    # WHEN schemathesis runs every phase against the local API
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(schema),
        "--url",
        stack.url,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--warnings",
        "off",
        "--report",
        "har",
        "--report-har-path",
        str(har),
        *os.environ.get("FUZZ_EXTRA_ARGS", "").split(),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    seen = statuses(har) if har.exists() else Counter()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    tally = "\n".join(f"{method} {path} {status}: {count}" for (method, path, status), count in sorted(seen.items()))
    egress = f"names not looked up: {sorted(set(stack.names))}\nconnects refused: {stack.guard.blocked}"
    (OUTPUT / f"{name}.txt").write_text(f"{run.stdout}{run.stderr}\nanswers:\n{tally}\n{egress}\n", "utf-8")
    # THEN no check failed (no 5xx, every answer declared and conforming, invalid input refused)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
    # AND the image fetcher was asked for a host name, which never reached DNS
    if name == "ClassifyFunction":
        assert FETCH_NAME in stack.names
    # AND each operation succeeded at least once, so its 200 body was checked against the document too
    # (an upload's file cannot be written in a JSON document as bytes: test_an_upload_answers_as_declared sends one)
    for route in FUNCTIONS[name].routes:
        if route.method != "OPTIONS" and route.path != UPLOAD:
            assert seen[(route.method, route.path, 200)], f"{route.method} {route.path} never answered 200"
