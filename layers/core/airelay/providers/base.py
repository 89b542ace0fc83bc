"""The provider ports. A provider implements one method and maps its vendor's errors to airelay.errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import InvalidInput

# Set by a provider when its upstream answered "429, retry after N s" during the current call, so that a deadline
# that cuts the upstream's retries short can still tell the client it was rate limiting (and for how long).
upstream_retry_after: ContextVar[int | None] = ContextVar("upstream_retry_after", default=None)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema of its input."""

    name: str
    description: str
    parameters: dict


@dataclass(frozen=True, slots=True)
class ChatRequest:
    # OpenAI's chat message shape, the lingua franca of chat APIs: role/content, an assistant's `tool_calls`,
    # `tool` messages with `tool_call_id`
    messages: list[dict]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: dict | None = None  # OpenAI's structured output, e.g. {"type": "json_schema", ...}
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None  # "auto" (the provider's default), "required", "none", or one tool's name
    # OpenAI's own parameters, relayed as the client sent them (the OpenAI-compatible endpoints)
    parallel_tool_calls: bool | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    # The most each image of `messages` can bill (pricing.image_bound of its size); when their number is not that of
    # the image parts, each image is held at the most any model bills for one (tokens.prompt_bound)
    image_bounds: tuple[int, ...] = ()


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    reasoning_tokens: int = 0  # of the completion tokens, those the model spent reasoning (as the provider reported)


# The events of a chat stream, the same for every provider and both wire formats (the UI message stream and
# OpenAI's). Tool calls: one ToolCallStart, its argument fragments, one ToolCallEnd with the whole argument text;
# several calls of one step may interleave. The stream ends with one Finished.


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """The model declines to answer (OpenAI's `refusal`, sent instead of content under structured output)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    id: str
    fragment: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    id: str
    arguments: str  # the whole argument text as the model wrote it: JSON, unless the model erred


@dataclass(slots=True)
class Finished:
    """The last event of a stream: why the model stopped, and the usage the provider reported (if any)."""

    reason: str = "stop"
    usage: Usage | None = None


ChatEvent = TextDelta | ReasoningDelta | RefusalDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | Finished


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Completion:
    text: str
    finished: Finished = field(default_factory=Finished)
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str = ""


class ChatModel(ABC):
    """A chat model. `stream` yields ChatEvents and ends with one `Finished`."""

    provider: ClassVar[str]

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.name = model_id.split("/", 1)[1]

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]: ...

    async def complete(self, request: ChatRequest) -> Completion:
        """Buffered answer. Providers may override it with a cheaper non-streaming call."""
        collected = CollectedAnswer()
        async for event in self.stream(request):
            collected.add(event)
        return collected.completion()


class CollectedAnswer:
    """The events of one stream gathered into a Completion (text, reasoning, refusal, the finished tool calls)."""

    __slots__ = ("finished", "names", "reasoning", "refusal", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.names: dict[str, str] = {}
        self.tool_calls: list[ToolCall] = []
        self.finished = Finished()

    def add(self, event: ChatEvent) -> None:
        match event:
            case TextDelta(text):
                self.text.append(text)
            case ReasoningDelta(text):
                self.reasoning.append(text)
            case RefusalDelta(text):
                self.refusal.append(text)
            case ToolCallStart(id, name):
                self.names[id] = name
            case ToolCallEnd(id, arguments):
                self.tool_calls.append(ToolCall(id, self.names.get(id, ""), arguments))
            case Finished():
                self.finished = event

    def completion(self) -> Completion:
        text, reasoning, refusal = "".join(self.text), "".join(self.reasoning), "".join(self.refusal)
        return Completion(text, self.finished, reasoning, self.tool_calls, refusal)


@dataclass(slots=True)
class Embeddings:
    vectors: numpy.ndarray  # (n, dimension) float32, each row L2-normalised  # noqa: F821
    usage: Usage


class Embedder(ABC):
    """A text embedder. `embed` returns one L2-normalised row per text, in order."""

    provider: ClassVar[str]
    dimension: ClassVar[int]

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.name = model_id.split("/", 1)[1]

    @abstractmethod
    async def embed(self, texts: list[str]) -> Embeddings: ...


SENTIMENTS = ("positive", "negative", "neutral")


MAX_KEYWORDS = 3  # a sentiment answer's keywords, at most (its schema: openapi.SentimentAnswer)


@dataclass(slots=True)
class SentimentResult:
    sentiment: str  # one of SENTIMENTS
    score: float  # confidence in `sentiment`, 0..1
    keywords: list[str] = field(default_factory=list)
    usage: Usage | None = None  # what a hosted call reported (tokens), for the usage ledger


class TextClassifier(ABC):
    """A sentiment classifier. `classify` maps one text to the common schema (positive / negative / neutral)."""

    provider: ClassVar[str]

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.name = model_id.split("/", 1)[1]

    @abstractmethod
    async def classify(self, text: str) -> SentimentResult: ...

    def worst_case(self, text: str) -> tuple[str, int, int]:
        """What one call may cost, for the budget: (priced model id, prompt token bound, max completion tokens)."""
        return self.model_id, len(text.encode()) + 1, 0

    async def input_usage(self, text: str) -> Usage:
        """What a call cut before its answer is billed (usage.Reading.if_cut): nothing, unless a provider read it."""
        return Usage()


@dataclass(frozen=True, slots=True)
class Label:
    label: str
    score: float


class ImageClassifier(ABC):
    """An image classifier. `classify` takes a decoded image (PIL) or its encoded bytes; best label first."""

    provider: ClassVar[str]

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.name = model_id.split("/", 1)[1]

    @abstractmethod
    async def classify(self, image: PIL.Image.Image | bytes) -> list[Label]: ...  # noqa: F821


def split_model_id(model_id: str) -> tuple[str, str]:
    provider, sep, name = model_id.partition("/")
    if not sep or not provider or not name:
        raise InvalidInput(f"model ids look like 'provider/name', got '{model_id[:80]}'")
    return provider, name
