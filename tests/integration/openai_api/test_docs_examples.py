"""docs/openai.md shows docs/examples/* verbatim, and those examples run against the local API as they are."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.integration.openai_api.conftest import KEY
from tests.support.upstream import Ok

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "openai.md"


def run(command: list[str], base_url: str) -> str:
    environment = {**os.environ, "AIRELAY_BASE_URL": base_url, "AIRELAY_API_KEY": KEY}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_doc_shows_the_example_files_verbatim():
    blocks = dict(re.findall(r"<!-- example: (docs/examples/[\w.-]+) -->\n```\w*\n(.*?)```\n", DOC.read_text(), re.S))
    assert set(blocks) == {"docs/examples/openai_sdk.py", "docs/examples/ai_sdk_openai.mjs"}
    for path, block in blocks.items():
        assert block == (ROOT / path).read_text(), path


def test_the_python_example(start, upstream):
    upstream.script("ok", "ok", Ok(tokens=('{"name": "Seoul", "population": 9400000}',)))
    out = run([sys.executable, "docs/examples/openai_sdk.py"], start())
    assert out.count(upstream.REPLY_TEXT) == 2
    assert "name='Seoul' population=9400000" in out


def test_the_ai_sdk_example(start, upstream):
    out = run(["node", "docs/examples/ai_sdk_openai.mjs"], start())
    assert out.count(upstream.REPLY_TEXT) == 2 and " tokens" in out
    assert upstream.requests[0]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}]
