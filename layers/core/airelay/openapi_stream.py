"""The OpenAPI description of POST /api/chat/stream: the parts of the AI SDK UI message stream airelay sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Json

from .openapi import Strict


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
    providerExecuted: Literal[True] | None = Field(
        default=None, description="true: run on the server; absent: a client-side tool the browser runs (onToolCall)"
    )


class ToolInputDeltaPart(Strict):
    type: Literal["tool-input-delta"]
    toolCallId: str
    inputTextDelta: str


class ToolInputAvailablePart(Strict):
    type: Literal["tool-input-available"]
    toolCallId: str
    toolName: str
    input: Any
    providerExecuted: Literal[True] | None = None


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


class ToolProofs(Strict):
    call: str = Field(description="HMAC: this server issued the call, with this input, in this chat and message")
    outcome: str | None = Field(default=None, description="HMAC over the result too, for a call settled here")


class ToolProofPart(Strict):
    """Stored with the message by useChat and posted back with it, so a conversation can continue after its tool
    calls without server state (docs/tools.md)."""

    type: Literal["data-tool-proof"]
    id: str = Field(description="the toolCallId")
    data: ToolProofs


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
    | ToolProofPart
    | UsagePart
    | ErrorDataPart
    | FinishPart
    | ErrorPart,
    Field(discriminator="type"),
]


class StreamEvent(BaseModel):
    """One server-sent event of the stream: its data is one JSON part, the last one `[DONE]`. Described as it is on
    the wire (a string holding JSON), in requests and answers alike."""

    model_config = ConfigDict(json_schema_mode_override="validation")
    event: Literal["message"] | None = None
    data: Literal["[DONE]"] | Json[StreamPart]


# The stream route names StreamEvent as its response_model, which puts it in the document's components; its answer
# class has no media type of its own, so the error bodies stay application/json and the 200 is described here.
STREAM = {
    200: {
        "description": "The AI SDK UI message stream (server-sent events); a failure after the start ends it with an "
        "`error` part",
        "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/StreamEvent"}}},
    }
}
