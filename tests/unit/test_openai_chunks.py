"""OpenAI chat-completion chunks read into typed events: text, reasoning (fields and <think> tags), tool calls."""

import json

import pytest

from airelay.providers.base import (
    CollectedAnswer,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from airelay.providers.openai_chunks import StreamState, ThinkSplitter, content_of, usage_of


def sse(*deltas, finish="stop"):
    lines = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': d}]})}\n\n" for d in deltas]
    lines.append(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}\n\n")
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def read(body: bytes, size: int | None = None, max_tokens: int = 100):
    state = StreamState(max_tokens)
    pieces = [body] if size is None else [body[i : i + size] for i in range(0, len(body), size)]
    events = [e for piece in pieces for e in state.feed(piece)]
    events.extend(state.close())
    return events, state


def calls(*fragments):
    return [{"tool_calls": [f]} for f in fragments]


def test_text_of_one_read_is_one_delta():
    events, state = read(sse({"content": "Hel"}, {"content": "lo"}))
    assert events == [TextDelta("Hello")]
    assert state.reason == "stop"


@pytest.mark.parametrize("broken", [b"data: {not json\n\n", b'data: {"error": {"message": "overloaded"}}\n\n'])
def test_text_read_before_a_broken_chunk_in_the_same_read_still_comes_out(broken):
    state = StreamState(100)
    good = f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': 'Hel'}}]})}\n\n".encode()
    assert state.feed(good + broken + good) == [TextDelta("Hel")]
    assert state.failure is not None
    assert state.feed(good) == []  # nothing is read after the break


def test_reasoning_fields_become_reasoning_deltas():
    events, _ = read(sse({"reasoning_content": "think "}, {"reasoning": "more"}, {"content": "answer"}))
    assert events == [ReasoningDelta("think more"), TextDelta("answer")]


@pytest.mark.parametrize("size", [1, 2, 3, 7, None])
def test_think_tags_split_across_chunks(size):
    # GIVEN a local model writing <think>…</think> inside content, cut at every byte
    body = sse(*({"content": c} for c in ["<th", "ink>step ", "one</thi", "nk>The ", "answer <b>"]))
    events, _ = read(body, size)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert (reasoning, text) == ("step one", "The answer <b>")


def test_a_lone_angle_bracket_is_held_only_until_it_cannot_be_a_tag():
    splitter = ThinkSplitter()
    assert splitter.feed("a <") == [TextDelta("a ")]
    assert splitter.feed("b") == [TextDelta("<b")]
    assert splitter.feed("<thin") == []
    assert splitter.flush() == [TextDelta("<thin")]


def test_tool_call_fragments_by_index_with_arguments_across_many_chunks():
    body = sse(
        *calls(
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "search_faq", "arguments": ""}},
            {"index": 0, "function": {"arguments": '{"que'}},
            {"index": 1, "id": "call_b", "type": "function", "function": {"name": "analyze_sentiment"}},
            {"index": 0, "function": {"arguments": 'ry": "환불"}'}},
            {"index": 1, "function": {"arguments": '{"text": "good"}'}},
        ),
        finish="tool_calls",
    )
    for size in (None, 5):
        events, state = read(body, size)
        a, b = (e.id for e in events if isinstance(e, ToolCallStart))
        assert events == [
            ToolCallStart(a, "search_faq"),
            ToolCallDelta(a, '{"que'),
            ToolCallStart(b, "analyze_sentiment"),
            ToolCallDelta(a, 'ry": "환불"}'),
            ToolCallDelta(b, '{"text": "good"}'),
            ToolCallEnd(a, '{"query": "환불"}'),
            ToolCallEnd(b, '{"text": "good"}'),
        ]
        assert state.reason == "tool-calls"


def test_peers_that_repeat_or_drop_ids_and_send_arguments_before_the_name():
    body = sse(
        *calls(
            {"index": 0, "id": "call_x", "function": {"arguments": '{"a":'}},
            {"index": 0, "id": "call_x", "function": {"name": "t", "arguments": "1}"}},
            {"index": 1, "function": {"arguments": "{}"}},
        ),
        finish="stop",
    )
    events, state = read(body)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    ends = [e for e in events if isinstance(e, ToolCallEnd)]
    assert starts[0].name == "t" and [e.id for e in ends] == [s.id for s in starts]
    assert starts[1].name == "" and starts[1].id.startswith("call_")  # no id, no name: made up, an unknown tool
    assert [e.arguments for e in ends] == ['{"a":1}', "{}"]
    assert state.reason == "tool-calls"  # the server said "stop" after calling tools


def test_every_call_gets_an_id_of_ours_even_when_the_upstream_numbers_calls_per_response():
    # GIVEN a peer that names the first call of every response "call_0", in two steps of one answer
    step = sse(*calls({"index": 0, "id": "call_0", "function": {"name": "t", "arguments": "{}"}}), finish="tool_calls")
    # WHEN each step's stream is read
    ids = [e.id for _ in range(2) for e in read(step)[0] if isinstance(e, ToolCallStart)]
    # THEN each call has an id of its own, made here: two parts of one message never share a toolCallId
    assert len(set(ids)) == 2 and "call_0" not in ids and all(i.startswith("call_") for i in ids)


@pytest.mark.parametrize(
    ("reported", "counted"),
    [
        ({"prompt_tokens": 5, "completion_tokens": 3}, Usage(5, 3, 0)),
        ({"prompt_tokens": 5.0, "completion_tokens": 3.0}, Usage(5, 3, 0)),  # whole floats are counts
        ({"prompt_tokens": 5, "completion_tokens": -10_000_000}, Usage(5, 0, 0)),
        ({"prompt_tokens": -5, "completion_tokens": 2.5}, Usage(0, 0, 0)),
        ({"prompt_tokens": "5", "completion_tokens": True}, Usage(0, 0, 0)),
        ({"prompt_tokens": None, "completion_tokens": [3]}, Usage(0, 0, 0)),
        ({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 4}}, Usage(10, 0, 4)),
        ({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 99}}, Usage(10, 0, 10)),
        ({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": -4}}, Usage(10, 0, 0)),
        ({"prompt_tokens": 10, "prompt_tokens_details": [4]}, Usage(10, 0, 0)),
    ],
)
def test_reported_usage_is_read_as_non_negative_whole_counts(reported, counted):
    # GIVEN what an OpenAI-compatible peer reports as usage, sane or not; WHEN read; THEN counts a ledger can bill
    usage = usage_of(reported)
    assert usage == counted
    assert all(type(n) is int for n in (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens))


def test_a_streamed_usage_report_is_read_the_same_way():
    # GIVEN a stream whose final usage chunk reports a negative completion count and a float prompt count
    body = sse({"content": "hi"}).replace(
        b"data: [DONE]",
        b'data: {"choices": [], "usage": {"prompt_tokens": 7.0, "completion_tokens": -9}}\n\ndata: [DONE]',
    )
    # WHEN it is read; THEN the usage is whole, non-negative counts
    _, state = read(body)
    assert state.usage == Usage(7, 0, 0) and type(state.usage.prompt_tokens) is int


def test_collected_answer_gathers_a_completion():
    collected = CollectedAnswer()
    for event in [
        ReasoningDelta("r"),
        TextDelta("a"),
        ToolCallStart("c1", "t"),
        ToolCallDelta("c1", "{}"),
        ToolCallEnd("c1", "{}"),
        Finished("tool-calls"),
    ]:
        collected.add(event)
    completion = collected.completion()
    assert (completion.text, completion.reasoning, completion.finished.reason) == ("a", "r", "tool-calls")
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [("c1", "t", "{}")]


def test_chunks_past_max_tokens_end_the_answer_for_length():
    events, state = read(sse(*({"content": str(i)} for i in range(5))), max_tokens=3)
    assert events == [TextDelta("012")]
    assert (state.reason, state.overrun) == ("length", True)


@pytest.mark.parametrize(
    ("content", "read"),
    [
        (None, ("", "")),
        ("Hello.", ("Hello.", "")),
        ([], ("", "")),
        (
            [
                {
                    "type": "thinking",
                    "thinking": [{"type": "text", "text": "Think. "}, {"type": "text", "text": "Done."}],
                },
                {"type": "text", "text": "Hel"},
                {"type": "reference", "reference_ids": [1]},
                {"type": "text", "text": "lo.", "extra": True},
            ],
            ("Hello.", "Think. Done."),
        ),
        ([{"type": "thinking", "thinking": "In a string."}], ("", "In a string.")),
    ],
    ids=["none", "string", "empty-list", "mistral-parts", "thinking-a-string"],
)
def test_content_is_a_string_or_mistrals_list_of_text_thinking_and_reference_parts(content, read):
    assert content_of(content) == read


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text", "text": "Hello."},
        [{"type": "output_text", "text": "Hello."}],  # a Responses-style part: not read as an empty answer
        [{"type": "refusal", "refusal": "I can't help with that."}],
        [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}],
        [{"text": "Hello."}],
        ["Hello."],
        [{"type": "text", "text": 42}],
    ],
    ids=["object", "output_text", "refusal", "image_url", "no-type", "a-string", "text-a-number"],
)
def test_content_of_any_other_shape_is_a_malformed_answer(content):
    with pytest.raises(TypeError):
        content_of(content)
