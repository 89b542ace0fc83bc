"""Images in chat are checked "read, not decoded" (attachments.image_content -> images.decode.image_format) off the
event loop: Pillow's JPEG header reader walks fill bytes (0xFF, which the standard allows before any marker) one
Python step at a time, about 0.3 s for a JPEG of 900 KiB (CHAT_FILE_MAX_BYTES), and a post may carry four."""

import base64
import io
import time

import anyio
from PIL import Image

from airelay.attachments import FilePart, with_images
from airelay.images.fetch import FetchPolicy
from airelay.providers.base import ChatRequest
from airelay.settings import Settings

FILE_MAX_BYTES = Settings().chat_file_max_bytes


def padded_jpeg(size: int) -> bytes:
    """A valid 32 x 32 JPEG of `size` bytes: fill bytes between its APP0 segment and the rest of its header."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(out, "JPEG")
    jpeg = out.getvalue()
    after_app0 = 4 + int.from_bytes(jpeg[4:6])
    return jpeg[:after_app0] + b"\xff" * (size - len(jpeg)) + jpeg[after_app0:]


def test_checking_chat_images_does_not_hold_the_event_loop():
    # GIVEN a message of 4 JPEGs at the largest a chat file may be (4.9 MB of base64: under CHAT_BODY_MAX_BYTES), valid
    files = [padded_jpeg(FILE_MAX_BYTES - 8)] * 4
    parts = [FilePart("image/jpeg", "data:image/jpeg;base64," + base64.b64encode(f).decode()) for f in files]
    request = ChatRequest(messages=[{"role": "user", "content": "What is this?"}], max_tokens=16)
    gaps = [0.0]

    async def main():
        async def ticker():
            last = time.perf_counter()
            while True:
                await anyio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await anyio.sleep(0.02)
            # WHEN the server checks them, as /api/chat/stream does before any model call
            await with_images(request, parts, FetchPolicy(max_bytes=FILE_MAX_BYTES), max_pixels=16_000_000)
            group.cancel_scope.cancel()

    anyio.run(main)
    # THEN the event loop goes on serving others: no stall longer than a quarter of a second
    longest = max(gaps)
    assert longest < 0.25, f"the event loop was held for {longest:.2f} s checking four image headers"
