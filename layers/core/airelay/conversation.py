"""Chat request bodies (the seed's fields, or what the AI SDK's useChat posts) -> a checked ChatRequest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from .attachments import FilePart
from .errors import InvalidInput
from .personas import personas, system_prompt
from .providers.base import ChatRequest
from .settings import Settings
from .text import is_blank


class GenerationParams(BaseModel):
    persona: str = "assistant"
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class ChatBody(GenerationParams):
    """The seed tutorial's body: one new message plus the earlier turns."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1)
    conversation_history: list[HistoryTurn] = Field(default_factory=list, max_length=1000)


class UIPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None
    mediaType: str | None = Field(default=None, max_length=200)  # a `file` part's
    url: str | None = None  # a `file` part's: a data: URL or an http(s) URL


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[UIPart] = Field(max_length=1000)


class UIChatBody(GenerationParams):
    """What the AI SDK's DefaultChatTransport posts; extra fields from its `body` option are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    messages: list[UIMessage] = Field(min_length=1, max_length=1000)
    trigger: str | None = None
    messageId: str | None = None


def body_kind(data: object) -> str | None:
    if isinstance(data, dict):
        return "ui" if "messages" in data else "chat"
    return "ui" if isinstance(data, UIChatBody) else "chat" if isinstance(data, ChatBody) else None


# The stream takes either body; which one is told by its `messages` field, so a wrong field is reported against the
# shape the body looks like, not against both.
StreamBody = Annotated[
    Annotated[ChatBody, Tag("chat")] | Annotated[UIChatBody, Tag("ui")],
    Discriminator(
        body_kind, custom_error_type="invalid_input", custom_error_message="The request body must be a JSON object."
    ),
]


def turns_of(body: ChatBody | UIChatBody) -> list[dict[str, str]]:
    """The conversation as role/content turns, oldest first, ending with the user's new message."""
    if isinstance(body, ChatBody):
        return [
            *({"role": t.role, "content": t.content} for t in body.conversation_history),
            {"role": "user", "content": body.message},
        ]
    turns = []
    messages = body.messages[:-1] if continues(body) else body.messages
    for message in messages:
        if message.role == "system":
            continue  # the system prompt is the server's to set
        text = "".join(p.text or "" for p in message.parts if p.type == "text")
        if text or (message is messages[-1] and any(p.type == "file" for p in message.parts)):
            turns.append({"role": message.role, "content": text})  # sendMessage({files}) sends no text
    if not turns or turns[-1]["role"] != "user":
        raise InvalidInput("The last message must be a user message with text or files.")
    return turns


def continues(body: ChatBody | UIChatBody) -> bool:
    """Whether the post continues its last assistant message (its tool calls now have outputs: continuation.py)."""
    return isinstance(body, UIChatBody) and body.messages[-1].role == "assistant"


def files_of(body: ChatBody | UIChatBody) -> list[FilePart]:
    """The `file` parts of the newest user message (useChat's attachments); earlier turns' files are not resent. A
    client's `system` messages are dropped (turns_of), their parts too."""
    if isinstance(body, ChatBody):
        return []
    turns, at = [m for m in body.messages if m.role != "system"], -2 if continues(body) else -1
    newest = turns[at] if len(turns) >= -at else None
    if newest is None or newest.role != "user":
        return []
    return [FilePart(p.mediaType or "", p.url or "") for p in newest.parts if p.type == "file"]


def images_of(body: ChatBody | UIChatBody) -> tuple[str, ...]:
    """The URLs (data: or http(s)) of the images users attached, oldest first: what tools may look at."""
    if isinstance(body, ChatBody):
        return ()
    return tuple(
        p.url
        for message in body.messages
        if message.role == "user"
        for p in message.parts
        if p.type == "file" and p.url and (p.mediaType or "").startswith("image/")
    )


def cap_history(turns: list[dict[str, str]], settings: Settings) -> list[dict[str, str]]:
    """Keep the newest turns within the turn and character limits; the new message always stays."""
    *history, latest = turns
    history = history[-settings.history_max_turns :] if settings.history_max_turns else []
    budget = settings.history_max_chars - len(latest["content"])
    kept: list[dict[str, str]] = []
    for turn in reversed(history):
        budget -= len(turn["content"])
        if budget < 0:
            break
        kept.append(turn)
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return [*kept, latest]


def resolve_model(requested: str | None, settings: Settings) -> str:
    if requested is None:
        return settings.chat_model
    for model_id in settings.chat_models:
        if requested in (model_id, model_id.split("/", 1)[-1]):
            return model_id
    raise InvalidInput(f"model is not available here; choose one of: {', '.join(settings.chat_models)}")


def build_request(body: ChatBody | UIChatBody, settings: Settings) -> tuple[str, ChatRequest]:
    """Validate what pydantic cannot know (limits from settings), then build the upstream request."""
    system = system_prompt(body.persona)
    if system is None:
        raise InvalidInput(f"persona must be one of: {', '.join(personas())}")
    max_tokens = body.max_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens_cap:
        raise InvalidInput(f"max_tokens must be between 1 and {settings.max_tokens_cap}")
    turns = turns_of(body)
    if len(turns[-1]["content"]) > settings.message_max_chars:
        raise InvalidInput(f"message is longer than {settings.message_max_chars} characters")
    if is_blank(turns[-1]["content"]) and not files_of(body):
        raise InvalidInput("message must not be empty")
    messages = [{"role": "system", "content": system}, *cap_history(turns, settings)]
    request = ChatRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
    )
    return resolve_model(body.model, settings), request
