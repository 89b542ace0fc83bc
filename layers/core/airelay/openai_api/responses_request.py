"""A /v1/responses body -> a checked ChatRequest. Input items become chat messages: text
and images, function calls and their outputs; `instructions` is a system message, under the system prompt policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..providers.base import ChatRequest, ToolSpec
from ..settings import Settings
from .chat_request import text_size, with_system_policy
from .errors import BadRequest, Unsupported
from .images import ImageAt, relayable_scheme
from .structured import check_response_format

# asked for by the AI SDK for reasoning models without store; no reasoning items are answered, so nothing to include
INCLUDABLE = ("reasoning.encrypted_content",)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Loose(BaseModel):
    model_config = ConfigDict(
        extra="ignore", strict=True
    )  # items echo fields of earlier output (id, status) that change nothing


class InputText(Loose):
    type: Literal["input_text", "output_text"]
    text: str


class InputImage(Loose):
    type: Literal["input_image"]
    image_url: Annotated[str, AfterValidator(relayable_scheme)] = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class Refusal(Loose):
    type: Literal["refusal"]  # an earlier answer's refusal, given back: relayed as that message's text
    refusal: str


ContentPart = Annotated[InputText | InputImage | Refusal, Field(discriminator="type")]


class MessageItem(Loose):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class FunctionCallItem(Loose):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=128)
    arguments: str


class FunctionOutputItem(Loose):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str | list[InputText]  # text parts are joined

    @property
    def text(self) -> str:
        return self.output if isinstance(self.output, str) else "".join(part.text for part in self.output)


class ReasoningItem(Loose):
    type: Literal["reasoning"]  # a model's earlier reasoning: not sent on (no model here reads it back)


class ItemReference(Loose):
    # an item of an earlier answer, by id, read from the kept items (stored_items); OpenAI's `type` is optional
    type: Literal["item_reference"] | None = None
    id: str = Field(min_length=1, max_length=256)


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)


class TextOptions(Strict):
    format: dict | None = None
    verbosity: str | None = None


class ResponsesBody(Strict):
    model: str = Field(max_length=200)
    input: str | list[MessageItem | FunctionCallItem | FunctionOutputItem | ReasoningItem | ItemReference] = Field(
        min_length=1
    )
    instructions: str | None = None
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    stream: bool | None = False
    store: bool | None = None
    previous_response_id: str | None = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    truncation: Literal["disabled"] | None = None
    include: list[str] | None = None


def messages_of(body: ResponsesBody) -> list[dict]:
    if isinstance(body.input, str):
        return [{"role": "user", "content": body.input}]
    messages: list[dict] = []
    for index, item in enumerate(body.input):
        if isinstance(item, ItemReference):
            raise Unsupported(
                "Input items cannot be referred to by id: this server keeps no items. Send each item itself and set "
                "'store': false (in the AI SDK: providerOptions: { openai: { store: false } }).",
                param=f"input.{index}",
            )
        if isinstance(item, MessageItem):
            messages.append({"role": item.role, "content": content_of(item.content)})
        elif isinstance(item, FunctionCallItem):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif isinstance(item, FunctionOutputItem):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.text})
    return messages


def content_of(content: str | list) -> str | list[dict]:
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, InputImage):
            image = {"url": part.image_url, **({"detail": part.detail} if part.detail else {})}
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": part.refusal if isinstance(part, Refusal) else part.text})
    return parts


FORMAT = "text.format"  # where a Responses request asks for structured output (chat: response_format)


def text_format(body: ResponsesBody) -> dict | None:
    """Responses' text.format ({type, name, schema, strict}) as chat's response_format."""
    spec = body.text.format if body.text else None
    if not spec or spec.get("type") in (None, "text"):
        return None
    if spec.get("type") == "json_schema":
        fields = {k: spec[k] for k in ("name", "schema", "strict", "description") if k in spec}
        return check_response_format({"type": "json_schema", "json_schema": fields}, FORMAT, FORMAT)
    return check_response_format(spec, FORMAT, FORMAT)


def system_param(body: ResponsesBody) -> str:
    """Where a Responses request carries its system message: `instructions`, else its first system or developer item."""
    if body.instructions:
        return "instructions"
    items = body.input if isinstance(body.input, list) else []
    return next(
        (f"input.{i}" for i, item in enumerate(items) if getattr(item, "role", "") in ("system", "developer")), "input"
    )


def tool_choice_of(body: ResponsesBody) -> str | None:
    choice = body.tool_choice
    if isinstance(choice, FunctionChoice):
        if choice.name not in {t.name for t in body.tools or ()}:
            raise BadRequest("'tool_choice' must name one of the request's function tools.", param="tool_choice")
        return choice.name
    return choice


def image_urls(body: ResponsesBody) -> list[ImageAt]:
    if isinstance(body.input, str):
        return []
    return [
        ImageAt(f"input.{i}.content.{j}.image_url", part.image_url, i)
        for i, item in enumerate(body.input)
        if isinstance(item, MessageItem) and isinstance(item.content, list)
        for j, part in enumerate(item.content)
        if isinstance(part, InputImage)
    ]


def responses_request(body: ResponsesBody, settings: Settings, policy: str) -> ChatRequest:
    if body.previous_response_id:
        raise Unsupported(
            "'previous_response_id' is not supported: airelay keeps answers' items, not responses; send the "
            "conversation in 'input' (its earlier items themselves or as item references).",
            param="previous_response_id",
        )
    if body.store and not settings.responses_store_hours:
        raise Unsupported("'store' must be false: this server keeps no responses.", param="store")
    unknown = [kind for kind in body.include or () if kind not in INCLUDABLE]
    if unknown:
        raise Unsupported(
            f"'include' may hold only {', '.join(INCLUDABLE)} here, not '{unknown[0][:80]}'.", param="include"
        )
    messages = messages_of(body)
    if body.instructions:
        messages.insert(0, {"role": "system", "content": body.instructions})
    if sum(map(text_size, messages)) > settings.history_max_chars + settings.message_max_chars:
        raise BadRequest("The input is too long for this server.", param="input")
    max_tokens = body.max_output_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens_cap:
        raise BadRequest(
            f"'max_output_tokens' must be at most {settings.max_tokens_cap} here.", param="max_output_tokens"
        )
    tools = tuple(
        ToolSpec(t.name, t.description or "", t.parameters or {"type": "object", "properties": {}})
        for t in body.tools or ()
    )
    return ChatRequest(
        messages=with_system_policy(messages, policy, system_param(body)),
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        response_format=text_format(body),
        tools=tools,
        tool_choice=tool_choice_of(body) if tools else None,
        parallel_tool_calls=body.parallel_tool_calls if tools else None,
        user=body.user,
    )
