"""The built-in tools, over airelay's own capabilities: the FAQ index, sentiment, image classification.

Each imports its capability when it first runs, so a chat without tools loads none of them."""

from __future__ import annotations

from functools import partial

import anyio
from pydantic import BaseModel, ConfigDict, Field

from .. import usage
from ..errors import InvalidInput
from .base import Source, Tool, ToolContext, ToolResult


class SearchFaq(Tool):
    name = "search_faq"
    description = "Searches the FAQ for the entries closest to a question; answers with their questions and answers."
    timeout_s = 10.0

    class Input(BaseModel):
        model_config = ConfigDict(extra="forbid")
        query: str = Field(min_length=1, max_length=500, description="the question to look up")
        top_k: int = Field(default=3, ge=1, le=5, description="how many entries to return")

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        from ..faq.service import bot_for

        bot = bot_for(context.settings)
        index = await anyio.to_thread.run_sync(bot.holder.get, abandon_on_cancel=True)
        vector = await bot.embed(arguments.query, context.caller)
        matches = index.match(vector, arguments.top_k)
        output = {
            "matches": [
                {"id": m.entry.id, "question": m.entry.question, "answer": m.entry.answer, "score": round(m.score, 4)}
                for m in matches
            ]
        }
        return ToolResult(output, [Source(f"faq-{m.entry.id}", m.entry.question) for m in matches])


class AnalyzeSentiment(Tool):
    name = "analyze_sentiment"
    description = "Tells whether a text is positive, negative or neutral, with a confidence score and keywords."
    timeout_s = 15.0

    class Input(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = Field(min_length=1, max_length=2000, description="the text to analyse")

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        from ..providers.registry import text_classifier

        model = await text_classifier(context.settings.sentiment_model, context.settings)
        priced_model, prompt_tokens, max_tokens = model.worst_case(arguments.text)
        async with usage.metered(context.caller, priced_model, prompt_tokens, max_tokens) as reading:
            reading.if_cut = partial(model.input_usage, arguments.text)
            result = await model.classify(arguments.text)
            reading.usage = result.usage
        return ToolResult({"sentiment": result.sentiment, "score": round(result.score, 4), "keywords": result.keywords})


class ClassifyImage(Tool):
    name = "classify_image"
    description = "Names what is in an image the user attached to the conversation (the latest one by default)."
    timeout_s = 20.0

    class Input(BaseModel):
        model_config = ConfigDict(extra="forbid")
        image: int = Field(default=-1, ge=-20, le=19, description="which image: 0 the first, -1 the latest")

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        from ..images.decode import decode_image
        from ..images.fetch import FetchPolicy, fetch_image
        from ..providers.registry import image_classifier
        from ..routers.classify import decode_base64

        settings = context.settings
        try:
            url = context.images[arguments.image]
        except IndexError:
            raise InvalidInput("There is no such image in the conversation.") from None
        model = await image_classifier(settings.image_model, settings)
        async with usage.metered(context.caller, settings.image_model):  # admitted before anything is fetched
            if url.startswith("data:"):
                data = decode_base64(url, settings.image_max_bytes)
            else:
                data = await fetch_image(url, FetchPolicy.from_settings(settings))
            image = await anyio.to_thread.run_sync(
                decode_image, data, settings.image_max_pixels, abandon_on_cancel=True
            )
            labels = await model.classify(image)
        return ToolResult({"labels": [{"label": x.label, "score": round(x.score, 4)} for x in labels[:5]]})


BUILTIN: tuple[type[Tool], ...] = (SearchFaq, AnalyzeSentiment, ClassifyImage)
