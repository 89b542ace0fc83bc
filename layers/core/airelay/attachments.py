"""Images in chat: the `file` parts of the newest user message, checked and made image content for a model that sees.

Checked before any upstream call, cheapest first: the count and the declared media types, that some model of the
request's chain can see images, then each file's bytes (a `data:` URL decoded, an http(s) URL fetched through the
SSRF-safe fetcher), their size and that they really are an image of the type declared (read, not decoded: the model
decodes them). The model gets each image as a base64 `data:` URL, so no provider ever fetches a client's URL itself.
Earlier turns' files are not resent.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from dataclasses import dataclass

import anyio

from .errors import InvalidInput, PayloadTooLarge
from .images.decode import ImageTooLarge, NotAnImage, image_format
from .images.fetch import FetchPolicy, Resolver, fetch_image, system_resolver
from .providers.base import ChatRequest
from .settings import Settings
from .text import is_blank
from .usage.pricing import image_bound

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}  # Pillow's names


class UnsupportedMediaType(InvalidInput):
    status = 415
    code = "unsupported_media_type"
    message = "This file type is not accepted in chat."


class TooManyFiles(InvalidInput):
    code = "too_many_files"
    message = "The message has too many files."


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"
    message = "A file in the message is too large."


class BadFile(InvalidInput):
    code = "invalid_file"
    message = "A file in the message could not be read."


class ModelCannotSeeImages(InvalidInput):
    code = "model_cannot_see_images"
    message = "The chosen model cannot see images; send text only or choose a model that can."


@dataclass(frozen=True, slots=True)
class FilePart:
    """What useChat posts for an attachment: `{type: "file", mediaType, url, filename?}`."""

    media_type: str
    url: str


def check_declared(files: list[FilePart], settings: Settings) -> None:
    if len(files) > settings.chat_files_max:
        raise TooManyFiles(f"A message may carry at most {settings.chat_files_max} files.")
    for file in files:
        if file.media_type.lower() not in settings.chat_file_media_types:
            raise UnsupportedMediaType(f"Files in chat must be one of: {', '.join(settings.chat_file_media_types)}.")


def seeing_models(model_ids: tuple[str, ...], settings: Settings) -> tuple[str, ...]:
    """The models of a fallback chain that can see images; ModelCannotSeeImages when the requested one cannot."""
    if model_ids[0] not in settings.vision_chat_models:
        raise ModelCannotSeeImages(f"The model {model_ids[0]} cannot see images; send text only or choose another.")
    return tuple(m for m in model_ids if m in settings.vision_chat_models)


def decoded_data_url(url: str, max_bytes: int) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise BadFile("A file's data: URL must be base64-encoded.")
    if len(payload) > (max_bytes + 2) // 3 * 4:
        raise FileTooLarge(f"A file in the message is larger than {max_bytes:,} bytes.")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadFile("A file's data: URL is not valid base64.") from None


async def file_bytes(file: FilePart, policy: FetchPolicy, resolver: Resolver) -> bytes:
    scheme = file.url.partition(":")[0].lower()
    if scheme == "data":
        return decoded_data_url(file.url, policy.max_bytes)
    if scheme in ("http", "https"):
        try:
            return await fetch_image(file.url, policy, resolver)
        except ImageTooLarge:
            raise FileTooLarge(f"A file in the message is larger than {policy.max_bytes:,} bytes.") from None
    raise BadFile("A file's url must be a data: URL or an http(s) URL.")


def image_content(media_type: str, data: bytes, max_pixels: int | None = None) -> tuple[dict, int]:
    """The image as a model's image content, once its bytes are an image of `media_type` (its header read, nothing
    decoded: images.decode.image_format) of at most `max_pixels` (None: Pillow's own bomb limit only); and the most
    it can bill for its size (pricing.image_bound)."""
    media_type = media_type.lower()
    try:
        kind, width, height = image_format(data, max_pixels)
    except NotAnImage:
        kind = width = height = None
    except ImageTooLarge as too_large:
        raise FileTooLarge(too_large.message) from None
    if kind != FORMATS[media_type]:
        raise BadFile(f"A file declared as {media_type} is not one.")
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}, image_bound(width, height)


def file_policy(settings: Settings) -> FetchPolicy:
    """The image fetcher's policy, with chat's own size limit."""
    return dataclasses.replace(FetchPolicy.from_settings(settings), max_bytes=settings.chat_file_max_bytes)


async def with_images(
    request: ChatRequest,
    files: list[FilePart],
    policy: FetchPolicy,
    resolver: Resolver = system_resolver,
    max_pixels: int | None = None,
) -> ChatRequest:
    """The request with the files as image content before the newest user message's text (none when it has none:
    a message of images only, as OpenAI's chat completions accept)."""
    if not files:
        return request
    checked = [  # Pillow reads each header in Python: ~0.3 s for a JPEG padded to 1 MiB, off the event loop
        await anyio.to_thread.run_sync(image_content, f.media_type, await file_bytes(f, policy, resolver), max_pixels)
        for f in files
    ]
    images, bounds = [content for content, _ in checked], tuple(bound for _, bound in checked)
    *earlier, newest = request.messages
    text = [] if is_blank(newest["content"]) else [{"type": "text", "text": newest["content"]}]
    messages = [*earlier, {"role": "user", "content": [*images, *text]}]
    return dataclasses.replace(request, messages=messages, image_bounds=request.image_bounds + bounds)


async def attach_files(
    request: ChatRequest, files: list[FilePart], model_ids: tuple[str, ...], settings: Settings
) -> tuple[tuple[str, ...], ChatRequest]:
    """The models of the chain that can see, and the request with the images: every check before any upstream call."""
    check_declared(files, settings)
    seeing = seeing_models(model_ids, settings)
    return seeing, await with_images(request, files, file_policy(settings), max_pixels=settings.image_max_pixels)
