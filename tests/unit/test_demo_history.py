"""The demo page's recentHistory (web/demo/chat-stream.js) against the server's cap_history, which it says it mirrors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from airelay.conversation import cap_history
from airelay.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "web" / "demo" / "chat-stream.js"


def recent_history_in_node(history: list[dict], message: str) -> list[dict]:
    """Runs the page's own recentHistory (its constants and the function, cut from the module) in Node."""
    node = "node"
    text = SOURCE.read_text("utf-8")
    start, end = text.index("const HISTORY_TURNS"), text.index("export function buildRequestBody")
    code = text[start:end].replace("export function", "function")
    script = f"{code}\nconst [h, m] = JSON.parse(require('fs').readFileSync(0, 'utf8'));\nprocess.stdout.write(JSON.stringify(recentHistory(h, m)));"
    out = subprocess.run(
        [node, "-e", script], input=json.dumps([history, message]), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_page_sends_every_turn_the_server_would_keep_with_emoji():
    # GIVEN 20 earlier turns of 1,000 emoji each (20,000 characters: within HISTORY_MAX_CHARS, 24,000)
    history = [{"role": ("user", "assistant")[i % 2], "content": "\U0001f600" * 1000} for i in range(20)]
    message = "Next?"
    server_keeps = cap_history([*history, {"role": "user", "content": message}], Settings())[:-1]
    assert len(server_keeps) == 20
    # WHEN the page picks the history it sends
    sent = recent_history_in_node(history, message)
    # THEN it sends what the server keeps: characters counted as code points on both sides
    sent_turns, kept_turns = len(sent), len(server_keeps)
    assert sent_turns == kept_turns
