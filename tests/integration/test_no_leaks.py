"""Provider keys and upstream error bodies never reach a response or a log line; logs are JSON with the request id."""

import json
import logging

import httpx
import pytest

from tests.support.upstream import FakeUpstream, MalformedChunk, ResetMidStream, Status

KEY = "sk-live-do-not-leak-0123456789"


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def captured():
    handler = Lines()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("airelay")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)  # the SDK and httpx log request details at DEBUG
    yield handler.lines
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.upstream_failure
def test_keys_and_upstream_bodies_stay_out_of_responses_and_logs(local_api, captured, printed):
    with FakeUpstream() as upstream:
        api = local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY=KEY,
            UPSTREAM_MAX_RETRIES=0,
            LOG_LEVEL="DEBUG",
        )
        upstream.script(
            Status(401),
            Status(500),
            Status(429, retry_after=1),
            "ok",
            ResetMidStream(after_chunks=3),
            MalformedChunk(after_chunks=2, then="close"),
        )
        bodies = [httpx.post(f"{api}/api/chat", json={"message": "hi"}, timeout=10).text for _ in range(4)]
        bodies += [httpx.post(f"{api}/api/chat/stream", json={"message": "hi"}, timeout=10).text for _ in range(2)]
        secret_marker = upstream.SECRET_MARKER
    lines = printed()
    everything = "\n".join(bodies + captured + lines)
    assert KEY not in everything and secret_marker not in everything
    assert "Traceback" not in "\n".join(bodies)
    # AND airelay's own lines are Powertools' JSON carrying the request id and the caller
    documents = [json.loads(line) for line in lines if line.startswith("{")]
    ours = [line for line in documents if line.get("service") == "airelay" and "_aws" not in line]
    assert ours and all(line["request_id"] and line["identity"] == "ip:127.0.0.1" for line in ours)
    # AND each AI call printed one EMF document
    metrics = [document for document in documents if "_aws" in document]
    assert len(metrics) == 6 and {m["status"] for m in metrics} == {"ok", "error"}
    assert sum(m["Failures"][0] for m in metrics) == 5 and sum(m["Cancellations"][0] for m in metrics) == 0
