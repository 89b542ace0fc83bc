"""README "Use it from your frontend": its code blocks are the files in web/examples/, and those files work."""

from __future__ import annotations

import httpx
import pytest

from tests.support.upstream import FakeUpstream, Ok, ResetMidStream

from .snippets import EXAMPLES, copy_examples, readme_blocks
from .stack import run_node


def test_the_readme_shows_the_example_files_verbatim():
    blocks = readme_blocks()
    assert set(blocks) == {f"web/examples/{p.name}" for p in EXAMPLES.iterdir() if p.suffix in (".js", ".jsx")}
    for path, body in blocks.items():
        assert body == (EXAMPLES.parent.parent / path).read_text(encoding="utf-8"), f"README block for {path} differs"


@pytest.fixture
def examples(fake_stack):
    return copy_examples(fake_stack, "examples")


def run_example(name: str, examples, **env: str) -> None:
    out = run_node(
        ["--test", f"--test-name-pattern={name}", "--test-reporter=tap", "tests/e2e/examples.test.mjs"],
        env={"SNIPPET_DIR": str(examples), "EXPECTED_TEXT": FakeUpstream.REPLY_TEXT, **env},
    )["stdout"]
    assert "# pass 1" in out and "# fail 0" in out, out


def test_the_fetch_example_streams_the_exact_answer(examples, upstream):
    upstream.script(Ok(chunk_delay_s=0.005))  # tokens a few ms apart, as a model sends them, each its own read
    run_example("fetch example: streams", examples)
    assert upstream.requests[-1]["max_tokens"] == 256


def test_the_fetch_example_reports_a_broken_stream(fake_stack, examples, upstream):
    upstream.script(ResetMidStream(after_chunks=3))
    with httpx.stream("POST", f"{fake_stack}/api/chat/stream", json={"message": "x"}, timeout=10) as response:
        expected = next(line for line in response.iter_lines() if '"type":"error"' in line)
    upstream.script(ResetMidStream(after_chunks=3))
    run_example(
        "fetch example: rejects", examples, EXPECTED_ERROR=httpx.Response(200, content=expected[6:]).json()["errorText"]
    )


def test_the_fetch_example_stops_and_the_upstream_is_closed(examples, upstream):
    upstream.script(Ok(chunk_delay_s=0.05))
    run_example("fetch example: stops", examples)
    assert upstream.wait_closed(5.0)


def test_the_client_example(examples, upstream):
    run_example("client example", examples)
