"""A /v1/chat/completions body -> a checked ChatRequest: what airelay relays, refuses (400 naming the parameter), and
the operator's system prompt policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..personas import system_prompt
from ..providers.base import ChatRequest, ToolSpec
from ..settings import Settings
from ..tokens import message_text
from .errors import BadRequest, Unsupported
from .images import ImageAt, relayable_scheme
from .structured import check_response_format


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageURL(Strict):
    url: Annotated[str, AfterValidator(relayable_scheme)] = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(Strict):
    name: str = Field(min_length=1, max_length=128)
    arguments: str


class ToolCallIn(Strict):
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(Strict):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(Strict):
    role: Literal["user"]
    content: str | list[Part]
    name: str | None = None


class AssistantMessage(Strict):
    role: Literal["assistant"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=128)
    name: str | None = None
    refusal: str | None = None
    # what an answer carries and SDKs send back with it; not relayed (no model reads its earlier reasoning back)
    reasoning_content: str | None = Field(default=None, exclude=True)
    reasoning: str | None = Field(default=None, exclude=True)
    audio: None = Field(default=None, exclude=True)
    function_call: None = Field(default=None, exclude=True)


class ToolMessage(Strict):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str = Field(min_length=1, max_length=256)


Message = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


class FunctionDef(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDef


class ChosenFunction(Strict):
    name: str = Field(min_length=1, max_length=128)


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: ChosenFunction


class StreamOptions(Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None


class ChatCompletionBody(Strict):
    """Every parameter of OpenAI's chat completions that airelay reads; the ones it cannot honour are refused below,
    and any other is refused by name (extra="forbid")."""

    model: str = Field(max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=1000)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    # accepted at the values that mean "nothing asked", refused otherwise
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict | None = None
    store: bool | None = None
    modalities: list[str] | None = None


def refused(body: ChatCompletionBody) -> None:
    """Parameters airelay cannot honour: a 400 that names them, never silently ignored."""
    checks = [
        ("n", body.n not in (None, 1), "'n' greater than 1 is not supported: send one request per answer."),
        ("logprobs", bool(body.logprobs), "'logprobs' is not supported."),
        ("top_logprobs", bool(body.top_logprobs), "'top_logprobs' is not supported."),
        ("logit_bias", bool(body.logit_bias), "'logit_bias' is not supported."),
        ("store", bool(body.store), "'store' is not supported: airelay keeps no completions."),
        ("modalities", body.modalities not in (None, ["text"]), "Only the 'text' modality is supported."),
        ("stream_options", body.stream_options is not None and not body.stream, "'stream_options' needs 'stream'."),
    ]
    for param, bad, message in checks:
        if bad:
            raise Unsupported(message, param=param)
    if isinstance(body.stop, list) and len(body.stop) > 4:
        raise BadRequest("'stop' may hold at most 4 sequences.", param="stop")
    if isinstance(body.tool_choice, NamedToolChoice):
        if body.tool_choice.function.name not in {t.function.name for t in body.tools or ()}:
            raise BadRequest("'tool_choice' must name one of the request's tools.", param="tool_choice")


def with_system_policy(messages: list[dict], policy: str, where: str = "messages") -> list[dict]:
    """pass: the client's system messages as sent; prepend: the server's prompt first; refuse: none allowed (`where`
    names them in the refusal). Developer messages are system messages to every model but OpenAI's newest, so they go
    upstream as such."""
    messages = [{**m, "role": "system"} if m["role"] == "developer" else m for m in messages]
    if policy == "refuse" and any(m["role"] == "system" for m in messages):
        raise BadRequest("System and developer messages are not accepted here.", param=where, code="system_refused")
    if policy == "prepend":
        return [{"role": "system", "content": system_prompt("assistant")}, *messages]
    return messages


def max_tokens_of(body: ChatCompletionBody, settings: Settings) -> int:
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens_cap:
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise BadRequest(f"'{param}' must be at most {settings.max_tokens_cap} here.", param=param)
    return max_tokens


def tool_choice_of(body: ChatCompletionBody) -> str | None:
    """A mode, or the one tool's name (ChatRequest's form)."""
    choice = body.tool_choice
    return choice.function.name if isinstance(choice, NamedToolChoice) else choice


def text_size(message: dict) -> int:
    """The characters a message gives the model to read: its text, and its tool calls' names and arguments."""
    return len(message_text(message))


def image_urls(body: ChatCompletionBody) -> list[ImageAt]:
    return [
        ImageAt(f"messages.{i}.content.{j}.image_url.url", part.image_url.url, i)
        for i, message in enumerate(body.messages)
        if isinstance(message, UserMessage) and isinstance(message.content, list)
        for j, part in enumerate(message.content)
        if isinstance(part, ImagePart)
    ]


def chat_request(body: ChatCompletionBody, settings: Settings, policy: str) -> ChatRequest:
    refused(body)
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    if sum(map(text_size, messages)) > settings.history_max_chars + settings.message_max_chars:
        raise BadRequest("The conversation is too long for this server.", param="messages")
    tools = tuple(ToolSpec(t.function.name, t.function.description, t.function.parameters) for t in body.tools or ())
    return ChatRequest(
        messages=with_system_policy(messages, policy),
        max_tokens=max_tokens_of(body, settings),
        temperature=body.temperature,
        top_p=body.top_p,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
        response_format=check_response_format(body.response_format),
        tools=tools,
        tool_choice=tool_choice_of(body) if tools else None,
        parallel_tool_calls=body.parallel_tool_calls if tools else None,
        stop=body.stop,
        seed=body.seed,
        user=body.user,
    )
