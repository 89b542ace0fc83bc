"""The local API runs every function in one process, each on an event loop of its own (the chat function on
uvicorn's, each Mangum function in its container's thread), as Lambda runs each in an environment of its own. A chat
model that two functions use keeps one HTTP client per loop: the FAQ bot's fallback to the chat model answers after
the chat function has used the same model, and the other way round."""

from __future__ import annotations

import httpx

UNMATCHED = "What is the airspeed velocity of an unladen swallow over Antarctica?"


def test_the_faq_fallback_and_the_chat_function_share_a_model_across_their_loops(fake_stack, upstream):
    for _ in range(2):
        # GIVEN the chat function answered with the model
        chat = httpx.post(f"{fake_stack}/api/chat", json={"message": "hi", "max_tokens": 16}, timeout=10)
        assert chat.status_code == 200, chat.text
        # WHEN the FAQ bot finds no FAQ for a question
        faq = httpx.post(f"{fake_stack}/api/faq", json={"question": UNMATCHED}, timeout=10)
        # THEN the same model answers it, not a handoff after a failed call
        assert faq.status_code == 200, faq.text
        assert faq.json()["source"] == "model"
        assert faq.json()["answer"] == upstream.REPLY_TEXT
    assert len(upstream.requests) == 4
