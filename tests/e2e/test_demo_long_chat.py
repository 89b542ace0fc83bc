"""The demo page (web/demo) in a long conversation, in headless Chromium against the local API (fake upstream)."""

from __future__ import annotations

from .stack import run_node

SCRIPT = "tests/e2e/browser/long_chat.mjs"


def test_a_long_conversation_keeps_working_after_the_history_outgrows_the_body_limit(fake_stack, upstream):
    # GIVEN a conversation whose history grows past the API's body limit (256 KiB): 14 turns of 7,000 characters
    # WHEN each turn is sent THEN each is answered: the page sends only the turns the server keeps
    seen = run_node([SCRIPT], env={"BASE_URL": fake_stack, "TURNS": "14", "MESSAGE_CHARS": "7000"}, timeout_s=300)
    failed = [o for o in seen["outcomes"] if o["status"] != "done"]
    assert not failed, f"turn {failed[0]['turn']} failed ({failed[0]['bodyBytes']} bytes posted): {failed[0]['error']}"
    assert len(seen["outcomes"]) == 14
