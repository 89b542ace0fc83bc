"""What a server tool's failure leaves behind: a log line that names the tool and the exception's type, never the
arguments its message may quote; and, for a metered call the tool's deadline cut, a failed call (usage row and EMF
document), not one its client left."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anyio
import pytest
from pydantic import BaseModel, ConfigDict, Field

from airelay.observability import bind_request
from airelay.providers.base import SentimentResult, TextClassifier
from airelay.settings import get_settings
from airelay.tools.base import Tool, ToolContext, ToolFailed, ToolResult, run_tool
from airelay.tools.builtin import AnalyzeSentiment
from airelay.usage import Caller
from airelay.usage.sqlite import SqliteLedger
from tests.support.state import forget_classifiers, forget_meter, install

CITY = "zebra-quartz-7731 Seoul"  # the tool's argument, written by the model from the user's prompt


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(min_length=1, max_length=100)


class Forecast(Tool):
    """An operator's tool over a weather service, as tools are written: the client library's error names the
    request it made (here, the city it looked up)."""

    name = "forecast"
    description = "The forecast for a city."
    Input = Input

    async def run(self, arguments: Input, context: ToolContext) -> ToolResult:
        raise LookupError(f"no forecast at https://weather.example/v1?q={arguments.city}")


def test_a_failing_tool_leaves_its_arguments_out_of_the_log(printed):
    """The client and the model get 'The tool forecast failed.'; the log line names the tool, the exception's type and
    where it was raised, with the request id and caller, never the tool's arguments (the model's text), which an
    exception's message may quote as an HTTP client's error quotes the URL it fetched."""
    settings = get_settings()
    context = ToolContext(settings, Caller("req-review-2", "ip:203.0.113.9", "chat"))
    tool = Forecast()

    async def main():
        bind_request("req-review-2", "ip:203.0.113.9")
        with pytest.raises(ToolFailed, match=r"The tool forecast failed\."):
            await run_tool(tool, tool.Input(city=CITY), context)

    anyio.run(main)
    lines = [json.loads(line) for line in printed() if line.startswith("{") and not line.startswith('{"_aws"')]
    [failed] = [line for line in lines if "forecast" in line["message"]]
    assert (failed["request_id"], failed["identity"]) == ("req-review-2", "ip:203.0.113.9")
    assert "zebra-quartz-7731" not in json.dumps(failed), failed
    assert "LookupError" in failed["message"] and "in run" in failed["traceback"]


SLOW_MODEL = "local/review-slow-sentiment"


class SlowSentiment(TextClassifier):
    """A sentiment model that answers after 5 s: longer than the tool may take."""

    provider = "local"

    async def classify(self, text: str) -> SentimentResult:
        await anyio.sleep(5)
        return SentimentResult("neutral", 0.5)


class QuickDeadline(AnalyzeSentiment):
    timeout_s = 0.3


@pytest.fixture
def slow_sentiment(monkeypatch, printed):
    monkeypatch.setenv("SENTIMENT_MODEL", SLOW_MODEL)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    get_settings.cache_clear()
    forget_meter()
    install(SlowSentiment(SLOW_MODEL))
    yield printed
    forget_classifiers()
    forget_meter()


def call_documents(lines):
    documents = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    return [d for d in documents if "model" in d]


def test_a_sentiment_call_cut_by_the_tools_deadline_is_a_failure_not_a_cancellation(slow_sentiment):
    """A model call the tool's own deadline cuts (no client left; the tool's output is an error) is a failed call:
    usage row `error`, EMF Failures=1 and Cancellations=0, as relay records a call the answer's deadline cuts;
    `cancelled` is for calls their client left."""
    settings = get_settings()
    context = ToolContext(settings, Caller("req-review-1", "ip:203.0.113.9", "chat"))
    tool = QuickDeadline()

    async def main():
        with pytest.raises(ToolFailed):
            await run_tool(tool, tool.Input(text="a quiet day"), context)

    anyio.run(main)
    [document] = call_documents(slow_sentiment())
    rows = SqliteLedger(settings.usage_db_path).rows(datetime.now(UTC).date().isoformat())
    assert [row.status for row in rows] == ["error"]
    assert (document["status"], document["Failures"], document["Cancellations"]) == ("error", [1.0], [0.0])
