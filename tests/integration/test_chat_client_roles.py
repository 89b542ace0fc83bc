"""A useChat body's `system` message is the server's to set: /api/chat/stream drops a client's (conversation.turns_of),
its `file` parts too, so nothing a client puts there reaches the model."""

import base64
import io

import httpx
from PIL import Image

from tests.integration.openai_api.conftest import upstream

__all__ = ["upstream"]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_files_of_a_client_system_message_do_not_reach_the_model(local_api, upstream):
    """A client's `system` message is ignored entirely, its `file` parts too: the model gets the user's turn as the
    user sent it (text only), not an image the client put in a system message."""
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        VISION_CHAT_MODELS="openai/gpt-4o-mini",
    )
    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    body = {
        "id": "chat_1",
        "trigger": "submit-message",
        "messages": [
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]},
            {"id": "s1", "role": "system", "parts": [{"type": "file", "mediaType": "image/png", "url": image}]},
        ],
    }
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=30) as response:
        response.read()
    assert response.status_code == 200, response.text
    last = upstream.requests[-1]["messages"][-1]
    assert last["role"] == "user"
    assert last["content"] == "Hello", last["content"]
