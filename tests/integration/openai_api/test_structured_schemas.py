"""The caller's JSON Schema (response_format, text.format) is the caller's input: it is compiled offline, so a `$ref`
resolves within the schema or the request is a 400, nothing is ever fetched; one nested too deep, or whose references
lead nowhere, is a 400 too, never a 500; its patterns run in bounded time, whatever the answer."""

import http.server
import json
import threading
import time

import httpx
import pytest

from tests.support.upstream import Ok

from .conftest import KEY

USER = [{"role": "user", "content": "hi"}]


def post(base: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20)


def with_schema(path: str, schema: dict) -> dict:
    if path == "/responses":
        return {
            "model": "gpt-4o-mini",
            "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "x", "schema": schema}},
        }
    return {
        "model": "gpt-4o-mini",
        "messages": USER,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }


def nested(levels: int) -> dict:
    schema = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.fixture
def listener():
    """An HTTP server a caller could name in a schema (here on loopback): the paths it was asked for."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_schema_that_refers_outside_itself_is_a_400_and_nothing_is_fetched(start, upstream, listener, path):
    # GIVEN a schema whose $ref names a server the caller chose
    url, hits = listener
    upstream.script(Ok(tokens=('{"a": 1}',)))
    schema = {"type": "object", "properties": {"a": {"$ref": f"{url}/internal/schema.json"}}}
    # WHEN it is sent
    answer = post(start(), path, with_schema(path, schema))
    # THEN it is refused before any model is called, and that server was never asked for anything
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert hits == [] and upstream.requests == []


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
        {"type": "object", "properties": {"a": {"type": "strin"}}},
    ],
    ids=["reference-to-nowhere", "unknown-type"],
)
def test_a_schema_that_cannot_be_used_is_a_400_not_a_500(start, upstream, path, schema):
    answer = post(start(), path, with_schema(path, schema))
    assert answer.status_code == 400, answer.text
    where = "response_format" if path == "/chat/completions" else "text.format"
    assert answer.json()["error"]["param"] == where and upstream.requests == []


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_schema_nested_95_deep_checks_its_answer(start, upstream, path):
    # GIVEN a schema nested 95 objects deep (a recursive validator ran out of stack on it: a 500), and its answer
    value = "x"
    for _ in range(95):
        value = {"a": value}
    upstream.script(Ok(tokens=(json.dumps(value),)))
    # WHEN it is sent
    answer = post(start(), path, with_schema(path, nested(95)))
    # THEN the answer is checked against it and comes back
    assert answer.status_code == 200, answer.text


@pytest.mark.upstream_failure  # the model's answer does not match the schema: a 502, on purpose
@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_pattern_that_would_backtrack_for_ever_is_matched_at_once(start, upstream, path):
    # GIVEN a schema whose pattern backtracks exponentially on a backtracking engine, and an answer that fails it
    upstream.script(Ok(tokens=('{"a": "' + "a" * 40 + '!"}',)))
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}, "required": ["a"]}
    # WHEN the answer is checked
    began = time.monotonic()
    answer = post(start(), path, with_schema(path, schema))
    # THEN it is refused as not matching, at once (a backtracking engine would take hours on 40 characters)
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "invalid_structured_output"
    assert time.monotonic() - began < 5


DRAFT7 = {  # what the AI SDK's zodSchema() sends: "$schema" draft-07 and formats
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"when": {"type": "string", "format": "date-time"}, "site": {"type": "string", "format": "uri"}},
    "required": ["when", "site"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_format_is_an_annotation_whatever_the_draft(start, upstream, path):
    # GIVEN a draft-07 schema with formats, and an answer whose strings do not follow them
    upstream.script(Ok(tokens=('{"when": "2024-05-01", "site": "www.example.com"}',)))
    # WHEN it is checked THEN it passes: `format` annotates (as OpenAI's own structured outputs treat most of them)
    assert post(start(), path, with_schema(path, DRAFT7)).status_code == 200


@pytest.mark.upstream_failure  # the model's answer cannot be read: a 502, on purpose
@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_an_answer_with_a_lone_surrogate_key_does_not_match(start, upstream, path):
    upstream.script(Ok(tokens=('{"\\udc00": 1}',)))
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    answer = post(start(), path, with_schema(path, schema))
    assert (answer.status_code, answer.json()["error"]["code"]) == (502, "invalid_structured_output")
