"""The OpenAPI description of POST /api/chat/stream: the parts of the AI SDK UI message stream airelay sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .openapi import Strict, inline_schema


class StartPart(Strict):
    type: Literal["start"]
    messageId: str


class StepPart(Strict):
    type: Literal["start-step", "finish-step"]


class TextEdgePart(Strict):
    type: Literal["text-start", "text-end"]
    id: str


class TextDeltaPart(Strict):
    type: Literal["text-delta"]
    id: str
    delta: str


class ReasoningEdgePart(Strict):
    type: Literal["reasoning-start", "reasoning-end"]
    id: str


class ReasoningDeltaPart(Strict):
    type: Literal["reasoning-delta"]
    id: str
    delta: str


class ToolInputStartPart(Strict):
    type: Literal["tool-input-start"]
    toolCallId: str
    toolName: str
    providerExecuted: Literal[True] = Field(description="run on the server: the client does not post it back")


class ToolInputDeltaPart(Strict):
    type: Literal["tool-input-delta"]
    toolCallId: str
    inputTextDelta: str


class ToolInputAvailablePart(Strict):
    type: Literal["tool-input-available"]
    toolCallId: str
    toolName: str
    input: Any
    providerExecuted: Literal[True]


class ToolInputErrorPart(Strict):
    type: Literal["tool-input-error"]
    toolCallId: str
    toolName: str
    input: str = Field(description="the arguments as the model wrote them")
    providerExecuted: Literal[True]
    errorText: str


class ToolOutputAvailablePart(Strict):
    type: Literal["tool-output-available"]
    toolCallId: str
    output: Any
    providerExecuted: Literal[True]


class ToolOutputErrorPart(Strict):
    type: Literal["tool-output-error"]
    toolCallId: str
    errorText: str
    providerExecuted: Literal[True]


class SourceDocumentPart(Strict):
    type: Literal["source-document"]
    sourceId: str
    mediaType: str
    title: str


class StreamUsage(Strict):
    model: str
    inputTokens: int = Field(ge=0)
    outputTokens: int = Field(ge=0)
    cachedTokens: int = Field(ge=0)
    estimated: bool
    costUsd: float = Field(ge=0)
    costKrw: float = Field(ge=0)
    steps: int = Field(ge=1, description="upstream calls of the answer, each metered on its own")


class StreamFailure(Strict):
    status: int = Field(description="the HTTP status the failure would have had before the stream started")
    code: str
    retryAfter: int | None = None


class ErrorDataPart(Strict):
    type: Literal["data-error"]
    data: StreamFailure
    transient: Literal[True]


class MessageMetadata(Strict):
    model: str
    inputTokens: int = Field(ge=0)
    outputTokens: int = Field(ge=0)
    costUsd: float = Field(ge=0)
    steps: int = Field(ge=1)


class UsagePart(Strict):
    type: Literal["data-usage"]
    data: StreamUsage
    transient: Literal[True]


class FinishPart(Strict):
    type: Literal["finish"]
    finishReason: str
    messageMetadata: MessageMetadata = Field(description="stored with the message by useChat")


class ErrorPart(Strict):
    type: Literal["error"]
    errorText: str


StreamPart = Annotated[
    StartPart
    | StepPart
    | TextEdgePart
    | TextDeltaPart
    | ReasoningEdgePart
    | ReasoningDeltaPart
    | ToolInputStartPart
    | ToolInputDeltaPart
    | ToolInputAvailablePart
    | ToolInputErrorPart
    | ToolOutputAvailablePart
    | ToolOutputErrorPart
    | SourceDocumentPart
    | UsagePart
    | ErrorDataPart
    | FinishPart
    | ErrorPart,
    Field(discriminator="type"),
]


def stream_answer() -> dict:
    """`responses=` 200 of the stream: each SSE event's data is one JSON part, the last one `[DONE]`."""
    data = {
        "anyOf": [
            {"const": "[DONE]"},
            {"type": "string", "contentMediaType": "application/json", "contentSchema": inline_schema(StreamPart)},
        ]
    }
    event = {"type": "object", "required": ["data"], "properties": {"data": data, "event": {"const": "message"}}}
    return {
        200: {
            "description": "The AI SDK UI message stream (server-sent events); a failure after the start "
            "ends it with an `error` part",
            "content": {"text/event-stream": {"schema": event}},
        }
    }
