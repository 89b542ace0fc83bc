"""The README's frontend examples (web/examples/*) as the tests run them: copied to test-output/snippets/ with the
test API's origin in place of http://127.0.0.1:8000 and the built web/client in place of `@airelay/client`."""

from __future__ import annotations

import re
from pathlib import Path

from .stack import ROOT, SNIPPETS

EXAMPLES = ROOT / "web" / "examples"
README = ROOT / "README.md"
DEV_ORIGIN = "http://127.0.0.1:8000"
CLIENT_DIST = ROOT / "web" / "client" / "dist" / "index.js"


def copy_examples(api_url: str, name: str) -> Path:
    target = SNIPPETS / name
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(EXAMPLES.glob("*.js*")):  # the .js modules and ChatBox.jsx
        text = source.read_text(encoding="utf-8")
        assert text.count(DEV_ORIGIN) <= 1
        text = text.replace(DEV_ORIGIN, api_url)
        text = text.replace("from '@airelay/client'", f"from '{CLIENT_DIST.as_uri()}'")
        (target / source.name).write_text(text, encoding="utf-8")
    return target


def readme_blocks() -> dict[str, str]:
    """Code blocks in README.md that follow a `<!-- example: web/examples/NAME -->` line, by NAME."""
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- example: (web/examples/[\w.-]+) -->\n```\w*\n(.*?)```\n", re.S)
    return {path: body for path, body in pattern.findall(text)}
