"""POST /api/image/classify: a multipart upload, raw image bytes, {image_base64} or {image_url} -> {labels, model}."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from .. import usage
from ..errors import InvalidInput, MalformedRequest
from ..images.decode import ImageTooLarge, decode_image, sample_jpeg
from ..images.fetch import FetchPolicy, fetch_image
from ..openapi import MODEL_CALL, ClassifyAnswer, errors
from ..providers.base import ImageClassifier
from ..providers.registry import image_classifier
from ..settings import Settings, get_settings
from ..web import SettingsDep, api_router, caller_of

router = api_router()

FILE_FIELDS = ("image", "file")


class UnsupportedMediaType(InvalidInput):
    status = 415
    code = "unsupported_media_type"
    message = "Send multipart/form-data (field `image`), an image/* body, or JSON {image_base64} or {image_url}."


class ClassifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_base64: str | None = Field(None, description="the image, base64 (a data: URL prefix is accepted)")
    image_url: str | None = Field(None, max_length=2048, description="an http(s) URL of the image")

    @model_validator(mode="after")
    def exactly_one(self) -> ClassifyBody:
        if (self.image_base64 is None) == (self.image_url is None):
            raise ValueError("send exactly one of image_base64 and image_url")
        return self


JSON_BODY = TypeAdapter(ClassifyBody)

# FastAPI declares one media type per body; this route reads three, so read_image reads the body and the document
# lists the three here (the JSON one is ClassifyBody's own schema).
UPLOADS = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
            },
            "application/json": {"schema": JSON_BODY.json_schema()},
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def image_model(settings: SettingsDep) -> ImageClassifier:
    return await image_classifier(settings.image_model, settings)


@router.at_init
async def warm_image_model(settings: Settings) -> None:
    """The model made, a small JPEG decoded as a request's would be (Pillow loads its plugins at first use), and an
    in-process model run once on it."""
    model = await image_model(settings)
    image = decode_image(sample_jpeg(), settings.image_max_pixels)
    if model.provider == "local":  # in process, no bill
        await model.classify(image)


async def read_image(request: Request, settings: SettingsDep) -> bytes:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "multipart/form-data":
        data = await read_upload(request)
    elif content_type.startswith("image/") or content_type == "application/octet-stream":
        data = await request.body()
    elif content_type in ("application/json", ""):
        body = parse_body(await request.json())
        if body.image_url is not None:
            return await fetch_image(body.image_url, FetchPolicy.from_settings(settings))
        data = decode_base64(body.image_base64, settings.image_max_bytes)
    else:
        raise UnsupportedMediaType()
    if len(data) > settings.image_max_bytes:
        raise ImageTooLarge(f"The image is larger than {settings.image_max_bytes:,} bytes.")
    return data


@router.post(
    "/api/image/classify",
    response_model=ClassifyAnswer,
    responses=errors(*MODEL_CALL, 415),
    openapi_extra=UPLOADS,
)
async def classify(
    data: Annotated[bytes, Depends(read_image)],
    model: Annotated[ImageClassifier, Depends(image_model)],
    settings: SettingsDep,
    request: Request,
) -> dict:
    image = await anyio.to_thread.run_sync(decode_image, data, settings.image_max_pixels)
    model_id = settings.image_model
    async with usage.metered(caller_of(request, "classify"), model_id):
        labels = await model.classify(image)
    return {"labels": [{"label": label.label, "score": round(label.score, 4)} for label in labels], "model": model_id}


async def read_upload(request: Request) -> bytes:
    try:
        async with request.form(max_files=1, max_fields=8) as form:
            for name in FILE_FIELDS:
                upload = form.get(name)
                if isinstance(upload, UploadFile):
                    return await upload.read()
    except (HTTPException, MultiPartException) as exc:  # Starlette's answers to a malformed multipart body
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise MalformedRequest(f"The multipart body is not valid: {detail}") from None
    raise InvalidInput("The multipart body has no file field named `image`.")


def parse_body(data: object) -> ClassifyBody:
    try:
        return JSON_BODY.validate_python(data)
    except ValidationError as exc:
        problems = [{**problem, "loc": ("body", *problem["loc"])} for problem in exc.errors(include_input=False)]
        raise RequestValidationError(problems) from None


def decode_base64(text: str, max_bytes: int) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    text = "".join(text.split())
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise ImageTooLarge(f"The image is larger than {max_bytes:,} bytes.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image_base64: not valid base64") from None


def upload_settings(settings: Settings | None = None) -> Settings:
    """The classify function's settings: a body limit that fits an IMAGE_MAX_BYTES image sent as base64."""
    settings = settings or get_settings()
    needed = (settings.image_max_bytes + 2) // 3 * 4 + 64 * 1024
    return replace(settings, max_body_bytes=max(settings.max_body_bytes, needed))
