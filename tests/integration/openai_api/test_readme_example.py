"""README.md's OpenAI-compatible example runs as written against the local API, given the test API's base URL and key in
place of `make dev`'s (docs/openai.md's examples: test_docs_examples.py)."""

import re
import subprocess
import sys
from pathlib import Path

from tests.integration.openai_api.conftest import KEY

ROOT = Path(__file__).resolve().parents[3]
DEV_URL, DEV_KEY = "http://127.0.0.1:8000/v1", '"dev"'


def readme_v1_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### OpenAI-compatible", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


def test_the_readmes_v1_example_runs_against_the_local_api(start, upstream, tmp_path):
    block = readme_v1_block()
    assert DEV_URL in block and DEV_KEY in block  # what `make dev` serves
    script = tmp_path / "readme_v1.py"
    script.write_text(block.replace(DEV_URL, start()).replace(DEV_KEY, repr(KEY)))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # it prints the SDK's ChatCompletion object (its repr): the model's answer, finished
    assert result.stdout.startswith("ChatCompletion(") and "finish_reason='stop'" in result.stdout
    assert repr(upstream.REPLY_TEXT)[1:40] in result.stdout
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "Hi"}]
