"""ClassifyFunction's handler, called with the API Gateway events in events/ and the real local model
(EfficientNet-Lite0, ONNX Runtime; `make models` writes it)."""

import base64
import copy
import io
import json

import pytest
from PIL import Image

from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support import state

from .conftest import load_event

SETTINGS = ("IMAGE_MODEL", "IMAGE_MAX_BYTES", "IMAGE_MAX_PIXELS")  # IMAGE_MODEL_PATH: local.lambda_bridge names it


@pytest.fixture(autouse=True)
def image_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    state.forget_classifiers(keep_local=True)
    yield
    state.forget_classifiers(keep_local=True)


@pytest.fixture(scope="module")
def classify_function():
    return Container(find_function("ClassifyFunction"))


def invoke(container, event):
    event = load_event(event) if isinstance(event, str) else event
    response = container.invoke(event).result(timeout=60)
    return response["statusCode"], response["headers"], json.loads(response["body"] or "null")


def with_body(name: str, body: bytes | str, content_type: str | None = None, binary: bool = False) -> dict:
    event = copy.deepcopy(load_event(name))
    event["body"] = base64.b64encode(body).decode() if binary else body
    event["isBase64Encoded"] = binary
    if content_type:
        event["headers"]["content-type"] = content_type
        event["multiValueHeaders"]["content-type"] = [content_type]
    return event


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


# ---------------------------------------------------------------- the photo, three ways


@pytest.mark.parametrize("event", ["classify_base64", "classify_multipart"])
def test_the_coffee_photo_is_an_espresso(classify_function, event):
    # GIVEN the scikit-image coffee photo, as JSON base64 or as a multipart upload (base64 from API Gateway)
    # WHEN the function classifies it with the local model
    status, headers, data = invoke(classify_function, event)
    # THEN the top label is espresso, with the rest in descending order
    assert status == 200, data
    assert data["model"] == "local/efficientnet-lite0"
    assert data["labels"][0]["label"] == "espresso"
    assert data["labels"][0]["score"] > 0.5
    scores = [label["score"] for label in data["labels"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert headers["x-request-id"] == load_event(event)["requestContext"]["requestId"]


def test_a_raw_image_body_is_accepted(classify_function):
    photo = base64.b64decode(json.loads(load_event("classify_base64")["body"])["image_base64"])
    status, _, data = invoke(classify_function, with_body("classify_base64", photo, "image/jpeg", binary=True))
    assert status == 200 and data["labels"][0]["label"] == "espresso"


@pytest.mark.parametrize(
    "fmt,content_type,options",
    [
        ("GIF", "image/gif", {}),
        ("GIF", "image/gif", {"animated": True}),
        ("WEBP", "image/webp", {"quality": 85}),
        ("WEBP", "image/webp", {"lossless": True}),
        ("BMP", "image/bmp", {}),
    ],
    ids=["gif", "animated gif", "webp", "lossless webp", "bmp"],
)
def test_gif_webp_and_bmp_photos_are_classified(classify_function, fmt, content_type, options):
    # GIVEN the coffee photo re-encoded as GIF (256 colours), WebP or BMP; an animated GIF has a black second frame
    photo = Image.open(io.BytesIO(base64.b64decode(json.loads(load_event("classify_base64")["body"])["image_base64"])))
    out = io.BytesIO()
    if options.pop("animated", False):
        options.update(save_all=True, append_images=[Image.new("RGB", photo.size)], duration=100, loop=0)
    photo.save(out, fmt, **options)
    # WHEN it is posted as the raw body
    status, _, data = invoke(classify_function, with_body("classify_base64", out.getvalue(), content_type, binary=True))
    # THEN it is the same espresso
    assert status == 200, data
    assert data["labels"][0]["label"] == "espresso"


def test_a_data_url_is_accepted(classify_function):
    photo = json.loads(load_event("classify_base64")["body"])["image_base64"]
    event = with_body("classify_base64", json.dumps({"image_base64": f"data:image/jpeg;base64,{photo}"}))
    status, _, data = invoke(classify_function, event)
    assert status == 200 and data["labels"][0]["label"] == "espresso"


# ---------------------------------------------------------------- refusals, each a 4xx with a reason


def test_the_metadata_service_url_is_refused(classify_function):
    status, _, data = invoke(classify_function, "classify_url_metadata")
    assert status == 422
    assert data["error"]["code"] == "image_url_refused"
    assert "metadata" in data["error"]["message"]


def test_bytes_that_are_not_an_image_are_a_422(classify_function):
    status, _, data = invoke(classify_function, "classify_not_image")
    assert status == 422
    assert data["error"] == {"code": "not_an_image", "message": "The data is not a JPEG, PNG, WebP, GIF or BMP image."}


def test_a_decompression_bomb_is_refused_before_decoding(classify_function):
    # GIVEN a small PNG file that would decode to 12000 x 12000 pixels
    bomb = png(12000, 12000, mode="1")
    assert len(bomb) < 100_000
    status, _, data = invoke(
        classify_function, with_body("classify_base64", json.dumps({"image_base64": base64.b64encode(bomb).decode()}))
    )
    # THEN it is a 413 that says how many pixels are allowed
    assert status == 413
    assert data["error"]["code"] == "image_too_large"
    assert "12000 x 12000 pixels" in data["error"]["message"] and "16,000,000" in data["error"]["message"]


def test_an_image_over_the_byte_limit_is_a_413(classify_function, monkeypatch):
    monkeypatch.setenv("IMAGE_MAX_BYTES", "10000")
    photo = json.loads(load_event("classify_base64")["body"])["image_base64"]
    status, _, data = invoke(classify_function, "classify_base64")
    assert len(photo) > 10000
    assert status == 413 and data["error"]["code"] == "image_too_large"
    status, _, data = invoke(classify_function, "classify_multipart")
    assert status == 413 and data["error"]["code"] == "image_too_large"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image_base64": "not base64!"}, "image_base64: not valid base64"),
        ({}, "send exactly one of image_base64 and image_url"),
        ({"image_base64": "AAAA", "image_url": "https://example.com/x.png"}, "send exactly one"),
        ({"image": "AAAA"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_json_body_is_a_422(classify_function, body, message):
    status, _, data = invoke(classify_function, with_body("classify_base64", json.dumps(body)))
    assert status == 422 and message in data["error"]["message"]


def test_a_multipart_body_without_the_image_field_is_a_422(classify_function):
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nhello\r\n--{boundary}--\r\n'
    ).encode()
    event = with_body("classify_multipart", body, f"multipart/form-data; boundary={boundary}", binary=True)
    status, _, data = invoke(classify_function, event)
    assert status == 422 and "`image`" in data["error"]["message"]


def test_an_unsupported_content_type_is_a_415(classify_function):
    event = with_body("classify_base64", "image=abc", "application/x-www-form-urlencoded")
    status, _, data = invoke(classify_function, event)
    assert status == 415 and data["error"]["code"] == "unsupported_media_type"


@pytest.mark.upstream_failure  # the configured model file is missing: 500 not_configured
def test_a_missing_model_file_is_a_clear_configuration_error(classify_function, monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGE_MODEL_PATH", str(tmp_path / "nothing.onnx"))
    state.forget_classifiers()
    status, _, data = invoke(classify_function, "classify_base64")
    state.forget_classifiers()
    assert status == 500
    assert data["error"]["code"] == "not_configured" and "make models" in data["error"]["message"]


def test_preflight_is_answered_by_the_function(classify_function):
    response = classify_function.invoke(load_event("classify_preflight")).result(timeout=60)
    status, headers = response["statusCode"], response["headers"]
    assert status == 200 and headers["access-control-allow-origin"] == "http://localhost:5173"  # CORSMiddleware
