"""POST /api/image/classify ({image_base64} or {image_url}) and POST /api/image/classify/upload (a multipart upload,
field `image`) -> {labels, model}. FastAPI declares one media type per request body, so each has its route."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Annotated

import anyio
from fastapi import Depends, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import usage
from ..errors import InvalidInput
from ..images.decode import ImageTooLarge, decode_image, sample_jpeg
from ..images.fetch import FetchPolicy, fetch_image
from ..openapi import MODEL_CALL, ClassifyAnswer, errors
from ..providers.base import ImageClassifier
from ..providers.registry import image_classifier
from ..settings import Settings, get_settings
from ..web import SettingsDep, api_router, caller_of

router = api_router()


class UnsupportedMediaType(InvalidInput):
    status = 415
    code = "unsupported_media_type"
    message = (
        "Send JSON {image_base64} or {image_url} to /api/image/classify, "
        "or multipart/form-data (field `image`) to /api/image/classify/upload."
    )


class ClassifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_base64: str | None = Field(None, description="the image, base64 (a data: URL prefix is accepted)")
    image_url: str | None = Field(None, max_length=2048, description="an http(s) URL of the image")

    @model_validator(mode="after")
    def exactly_one(self) -> ClassifyBody:
        if (self.image_base64 is None) == (self.image_url is None):
            raise ValueError("send exactly one of image_base64 and image_url")
        return self


class ClassifyUpload(BaseModel):
    image: UploadFile = Field(description="the image file: JPEG, PNG, WebP, GIF or BMP")


def media_type(*accepted: str):
    """A dependency that answers 415 unless the request's content type is one of `accepted`. It runs before the
    body is validated, so a body of another type is refused for its type, not for its fields."""

    async def check(request: Request) -> None:
        if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() not in accepted:
            raise UnsupportedMediaType()

    return Depends(check)


async def image_model(settings: SettingsDep) -> ImageClassifier:
    return await image_classifier(settings.image_model, settings)


ModelDep = Annotated[ImageClassifier, Depends(image_model)]


@router.at_init
async def warm_image_model(settings: Settings) -> None:
    """The model made, a small JPEG decoded as a request's would be (Pillow loads its plugins at first use), and an
    in-process model run once on it."""
    model = await image_model(settings)
    image = decode_image(sample_jpeg(), settings.image_max_pixels)
    if model.provider == "local":  # in process, no bill
        await model.classify(image)


@router.post(
    "/api/image/classify",
    response_model=ClassifyAnswer,
    responses=errors(*MODEL_CALL, 415),
    dependencies=[media_type("application/json")],
)
async def classify(body: ClassifyBody, model: ModelDep, settings: SettingsDep, request: Request) -> dict:
    """The image as base64 or an http(s) URL the server fetches, once the caller's limits admitted the request."""
    async with usage.metered(caller_of(request, "classify"), settings.image_model):
        if body.image_url is not None:
            data = await fetch_image(body.image_url, FetchPolicy.from_settings(settings))
        else:
            data = decode_base64(body.image_base64, settings.image_max_bytes)
        return await labels_of(data, model, settings)


@router.post(
    "/api/image/classify/upload",
    response_model=ClassifyAnswer,
    responses=errors(*MODEL_CALL, 415),
    dependencies=[media_type("multipart/form-data")],
)
async def classify_upload(
    upload: Annotated[ClassifyUpload, Form(media_type="multipart/form-data")],
    model: ModelDep,
    settings: SettingsDep,
    request: Request,
) -> dict:
    """The image as a multipart upload."""
    image = upload.image
    async with usage.metered(caller_of(request, "classify"), settings.image_model):
        if image.size is not None and image.size > settings.image_max_bytes:  # refused unread, counted as a call
            raise ImageTooLarge(f"The image is larger than {settings.image_max_bytes:,} bytes.")
        return await labels_of(await image.read(), model, settings)


async def labels_of(data: bytes, model: ImageClassifier, settings: Settings) -> dict:
    """Inside the request's metered call: an image refused (too large, not an image) is a call that failed."""
    if len(data) > settings.image_max_bytes:
        raise ImageTooLarge(f"The image is larger than {settings.image_max_bytes:,} bytes.")
    image = await anyio.to_thread.run_sync(decode_image, data, settings.image_max_pixels)
    labels = await model.classify(image)
    return {
        "labels": [{"label": label.label, "score": round(label.score, 4)} for label in labels],
        "model": settings.image_model,
    }


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
