"""The images of a /v1 request, made safe to relay: as on /api/chat (attachments.py), no model provider ever fetches a
client's URL. An http(s) URL is fetched here through the SSRF-safe fetcher, a data: URL decoded, both under
/api/chat's limits (CHAT_FILES_MAX images, CHAT_FILE_MAX_BYTES each, CHAT_FILE_MEDIA_TYPES), and each image goes on
as a base64 data: URL of the type its bytes really are. Any other scheme is refused while the body is read. A request
with images goes only to the models of its chain that can see (VISION_CHAT_MODELS), as on /api/chat."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import NamedTuple

from .. import usage
from ..attachments import (
    BadFile,
    FilePart,
    ModelCannotSeeImages,
    UnsupportedMediaType,
    check_declared,
    file_bytes,
    file_policy,
    image_content,
    seeing_models,
)
from ..errors import AirelayError, InvalidInput
from ..images.fetch import FetchPolicy, system_resolver
from ..providers.base import ChatRequest
from ..settings import Settings
from ..usage import Caller
from .errors import BadRequest

SCHEMES = ("http", "https", "data")


CONVERSATION_IMAGES = 4  # times CHAT_FILES_MAX: the images of the whole conversation, which every request resends


class ImageAt(NamedTuple):
    param: str  # where the request holds it, for the error that names it
    url: str
    message: int  # the index of the message (or input item) that holds it


def relayable_scheme(url: str) -> str:
    """The body's own check (a pydantic validator): an image URL is fetched or decoded here, so only these."""
    if url.partition(":")[0].lower() not in SCHEMES:
        raise ValueError("an image URL must be an http(s) URL or a data: URL")
    return url


async def inline_images(
    request: ChatRequest, images: list[ImageAt], chain: tuple[str, ...], settings: Settings, caller: Caller
) -> tuple[tuple[str, ...], ChatRequest]:
    """The models of the chain that can see (all of it when there are no images), and the request with each image URL
    replaced by a checked data: URL. A requested model that cannot see, or an image that fails, is a 400 naming the
    (first) image, recorded as a failed call of the requested model (it counts against the caller's limits). A caller
    already seen over its requests per minute is refused first (usage.admit): nothing is fetched for it."""
    if not images:
        return chain, request
    await usage.admit(caller)
    try:
        return seeing_chain(chain, images, settings), await inlined(request, images, settings)
    except AirelayError:
        await usage.record_failed(caller, chain[0])
        raise


def seeing_chain(chain: tuple[str, ...], images: list[ImageAt], settings: Settings) -> tuple[str, ...]:
    """/api/chat's rule (attachments.seeing_models) in OpenAI's shape."""
    try:
        return seeing_models(chain, settings)
    except ModelCannotSeeImages as refused:
        raise BadRequest(refused.message, param=images[0].param, code=refused.code) from None


async def inlined(request: ChatRequest, images: list[ImageAt], settings: Settings) -> ChatRequest:
    in_message = Counter()
    for at, image in enumerate(images):
        in_message[image.message] += 1
        if in_message[image.message] > settings.chat_files_max:
            raise BadRequest(
                f"A message may carry at most {settings.chat_files_max} images.",
                param=image.param,
                code="too_many_files",
            )
        if at == settings.chat_files_max * CONVERSATION_IMAGES:
            raise BadRequest(f"A conversation may carry at most {at} images.", param=image.param, code="too_many_files")
    policy = file_policy(settings)
    inline: dict[str, tuple[str, int]] = {}  # URL -> its checked data: URL, the most it can bill
    for image in images:
        if image.url not in inline:
            inline[image.url] = await checked_data_url(image, policy, settings)
    bounds = tuple(inline[part["image_url"]["url"]][1] for m in request.messages for part in image_parts(m))
    data_urls = {url: data for url, (data, _) in inline.items()}
    messages = [with_inline_images(m, data_urls) for m in request.messages]
    return dataclasses.replace(request, messages=messages, image_bounds=bounds)


def image_parts(message: dict) -> list[dict]:
    content = message.get("content")
    return [p for p in content if p.get("type") == "image_url"] if isinstance(content, list) else []


async def checked_data_url(image: ImageAt, policy: FetchPolicy, settings: Settings) -> tuple[str, int]:
    """/api/chat's checks and errors (refused address, too large, not the image it claims), as OpenAI's 400."""
    try:
        if image.url[:5].lower() == "data:":
            declared = FilePart(image.url[5:].partition(",")[0].partition(";")[0], image.url)
            check_declared([declared], settings)
            data = await file_bytes(declared, policy, system_resolver)
            content, bound = image_content(declared.media_type, data, settings.image_max_pixels)
        else:
            fetched = await file_bytes(FilePart("", image.url), policy, system_resolver)
            content, bound = sniffed_image_content(fetched, settings)
    except InvalidInput as refused:
        raise BadRequest(refused.message, param=image.param, code=refused.code) from None
    return content["image_url"]["url"], bound


def sniffed_image_content(data: bytes, settings: Settings) -> tuple[dict, int]:
    """A fetched image has no declared type: the first accepted type its bytes are."""
    for media_type in settings.chat_file_media_types:
        try:
            return image_content(media_type, data, settings.image_max_pixels)
        except BadFile:
            continue
    raise UnsupportedMediaType(f"Images must be one of: {', '.join(settings.chat_file_media_types)}.")


def with_inline_images(message: dict, inline: dict[str, str]) -> dict:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    parts = [
        {**part, "image_url": {**part["image_url"], "url": inline[part["image_url"]["url"]]}}
        if part.get("type") == "image_url"
        else part
        for part in content
    ]
    return {**message, "content": parts}
