"""ClassifyFunction's handler with inputs a hostile visitor (or an odd camera) sends: each gets a clear answer, never
a 500. Same style as tests/functional/test_classify_function.py: real API Gateway events, the real local model."""

import base64
import io
import json
import struct
from datetime import UTC, datetime

from PIL import Image

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from tests.functional.conftest import load_event
from tests.functional.test_classify_function import (  # noqa: F401 - fixtures: the function, its settings cleared
    classify_function,
    image_settings,
    invoke,
    upload,
    with_body,
)
from tests.support.no_egress import EgressGuard


def as_base64_event(payload: bytes) -> dict:
    return with_body("classify_base64", json.dumps({"image_base64": base64.b64encode(payload).decode()}))


def exif_with_a_mistyped_tag() -> bytes:
    """An EXIF block (big-endian TIFF) of two entries: WhitePoint (0x013E, a RATIONAL tag) written as ASCII "cam",
    as some editing tools write it, and Orientation 6 (turn 90 degrees)."""
    entries = struct.pack(">HHI4s", 0x013E, 2, 4, b"cam\0") + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    ifd = struct.pack(">H", 2) + entries + struct.pack(">I", 0)
    return b"Exif\0\0" + b"MM\0*" + struct.pack(">I", 8) + ifd


def test_a_photo_whose_exif_has_a_mistyped_tag_is_classified(classify_function):  # noqa: F811
    # GIVEN a small JPEG photo whose EXIF says "turn it" and carries one tag written with the wrong type
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(out, "JPEG", exif=exif_with_a_mistyped_tag())
    # WHEN it is sent for classification
    status, _, data = invoke(classify_function, as_base64_event(out.getvalue()))
    # THEN it is classified (its pixels are fine; the EXIF is only a hint), not a 500 internal_error
    assert status == 200, data
    assert data["labels"]


def test_a_very_thin_image_is_not_a_server_error(classify_function):  # noqa: F811
    # GIVEN a 17 KB PNG of 1 x 9,000,000 pixels: within the 16 M pixel limit, far under the byte limit
    out = io.BytesIO()
    Image.new("L", (1, 9_000_000)).save(out, "PNG")
    assert len(out.getvalue()) < 64 * 1024
    # WHEN it is sent for classification
    status, _, data = invoke(classify_function, as_base64_event(out.getvalue()))
    # THEN the answer is labels, or a 4xx that says what is wrong with the image, never a 500
    assert status in (200, 413, 422), data


def test_an_image_url_with_a_control_character_is_a_clear_4xx(classify_function):  # noqa: F811
    # GIVEN an image_url with a control character in its path, at a public numeric address (no DNS needed)
    event = with_body("classify_base64", json.dumps({"image_url": "http://93.184.216.34/photo\u0001.jpg"}))
    # WHEN it is sent for classification (nothing may leave this machine)
    with EgressGuard() as guard:
        status, _, data = invoke(classify_function, event)
    # THEN it is one of the fetcher's own 422s, not a 500 internal_error
    assert status == 422, data
    assert data["error"]["code"] in ("image_url_refused", "image_fetch_failed")
    assert guard.blocked == []


def test_an_upload_over_the_byte_limit_is_a_failed_call_with_its_row_like_the_json_route(
    classify_function,  # noqa: F811
    monkeypatch,
):
    # GIVEN a 10 KB image limit and the coffee photo (larger), sent once as JSON base64 and once as an upload
    monkeypatch.setenv("IMAGE_MAX_BYTES", "10000")
    get_settings.cache_clear()
    photo = base64.b64decode(json.loads(load_event("classify_base64")["body"])["image_base64"])

    def rows():
        day = datetime.now(UTC).date().isoformat()
        return [r for r in SqliteLedger(get_settings().usage_db_path).rows(day) if r.function == "classify"]

    # WHEN each is sent
    json_status, _, _ = invoke(classify_function, "classify_base64")
    after_json = len(rows())
    upload_status, _, _ = invoke(classify_function, upload(photo, "image/jpeg"))
    after_upload = len(rows())
    # THEN both are 413, and each is "a failed call with its own usage row" (README, Image classification): it counts
    # against the caller's per-minute limits, so a script over them gets 429s
    assert (json_status, upload_status) == (413, 413)
    assert after_json == 1
    assert after_upload == 2, "the oversized upload left no usage row"
