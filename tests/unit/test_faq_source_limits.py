"""FAQ sources past what the parsers take (numbers of thousands of digits, deep nesting, huge CSV cells, huge
files) are source errors with a short reason, like any other bad source, never another exception."""

import base64
import time

import pytest

from airelay.faq.source import MAX_SOURCE_BYTES, FaqSourceError, parse_source

HUGE_DIGITS = b"1" + b"0" * 5000  # over Python's 4,300-digit limit for int(str)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b'[{"id": ' + HUGE_DIGITS + b', "question": "q", "answer": "a"}]', "faq.json", "4,300 digits"),
        (b"- id: " + HUGE_DIGITS + b"\n  question: q\n  answer: a\n", "faq.yaml", "4,300 digits"),
        (b"[" * 100_000 + b"]" * 100_000, "faq.json", "nested too deeply"),
        (b"[" * 5_000 + b"]" * 5_000, "faq.yaml", "nested too deeply"),
        (b"- id: a\n  question: q\n  answer: a\n  tags: [2024-13-45]\n", "faq.yaml", "bad date"),
        (b"id,question,answer\nx,q," + b"a" * 200_000 + b"\n", "faq.csv", "line 2 .*field larger than field limit"),
        (b"id,question," + b"a" * 200_000 + b"\n", "faq.csv", "line 1 .*field larger than field limit"),
    ],
    ids=["json-huge-int", "yaml-huge-int", "json-deep", "yaml-deep", "yaml-bad-date", "csv-huge-cell", "csv-header"],
)
def test_a_source_the_parser_cannot_take_is_a_source_error_with_a_short_reason(data, name, reason):
    # GIVEN a source whose values or shape the parser refuses WHEN it is parsed
    with pytest.raises(FaqSourceError, match=reason) as refused:
        parse_source(data, name)
    # THEN the reason is short and names the file, never its text
    assert str(refused.value).startswith(f"{name}: ") and len(str(refused.value)) < 200


def test_a_source_over_the_size_limit_is_refused_before_it_is_parsed():
    # GIVEN a source one byte over the limit, that would parse fine
    entry = b'{"id": "a", "question": "q", "answer": "a"}'
    data = b"[" + entry + b" " * (MAX_SOURCE_BYTES - len(entry) - 1) + b"]"
    assert len(data) == MAX_SOURCE_BYTES + 1
    # WHEN it is parsed THEN it is refused for its size
    with pytest.raises(FaqSourceError, match="bytes, over the"):
        parse_source(data, "faq.json")
    # AND at the limit it is read as usual
    assert [e.id for e in parse_source(data[:-2] + b"]", "faq.json").entries] == ["a"]


def laughs(levels: int) -> bytes:
    """A YAML source whose first entry's id is one list named 9 times at each of `levels` levels through aliases
    (a "billion laughs": the parser shares the node, rendering it would make 9**levels strings)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    lines.append(f"entries:\n  - id: *a{levels - 1}\n    question: q\n    answer: b")
    return ("\n".join(lines) + "\n").encode()


def test_an_aliased_id_is_refused_without_rendering_it():
    source = laughs(9)  # 387 million strings behind 550 bytes
    started = time.perf_counter()
    with pytest.raises(FaqSourceError, match="entry 1"):
        parse_source(source, "faq.yaml")
    assert time.perf_counter() - started < 0.5


def repeated_alternates(entries: int, alternates: int) -> bytes:
    """A YAML source of `entries` entries that all name one list of `alternates` texts as their alternates."""
    lines = ["shared: &shared [" + ", ".join(f"way {i} to ask" for i in range(alternates)) + "]", "entries:"]
    lines += [f"  - {{id: e{i}, question: q{i}, answer: a, alternates: *shared}}" for i in range(entries)]
    return ("\n".join(lines) + "\n").encode()


def test_entries_whose_aliased_texts_add_up_past_what_a_source_may_hold_are_refused_at_once():
    # GIVEN 360 KB of YAML whose 5,000 entries name one list of 2,000 alternates: 10 million texts to check and embed
    source = repeated_alternates(5_000, 2_000)
    assert len(source) < 400_000
    started = time.perf_counter()
    # WHEN it is parsed THEN it is refused for what its aliases repeat, before the entries are checked one by one
    with pytest.raises(FaqSourceError, match=r"entry \d+: the entries' texts add up to over 16,777,216 characters"):
        parse_source(source, "faq.yaml")
    assert time.perf_counter() - started < 2.0
    # AND a source that names a shared list a few times, as YAML authors do, is read as usual
    assert len(parse_source(repeated_alternates(30, 20), "faq.yaml").entries) == 30


def aliased_binary_alternates(entries: int, alternates: int, chars: int) -> bytes:
    """A YAML source whose entries all name one list of `alternates` texts of `chars` characters each, written as
    !!binary scalars: PyYAML's SafeLoader makes them bytes, which pydantic's str fields accept (decoded, lax mode)."""
    texts = [(f"way{i}-" + "x" * chars)[:chars] for i in range(alternates)]
    items = ", ".join("!!binary " + base64.b64encode(t.encode()).decode() for t in texts)
    lines = [f"shared: &shared [{items}]", "entries:"]
    lines += [f"  - {{id: e{i}, question: q{i}, answer: a, alternates: *shared}}" for i in range(entries)]
    return ("\n".join(lines) + "\n").encode()


def test_aliased_binary_texts_past_the_limit_are_refused_like_aliased_str_texts():
    # GIVEN ~280 KB of YAML whose 100 entries name one list of 50 alternates of 4,000 characters: 20 million
    # characters of texts to check and embed, 5,000 rows, written as !!binary scalars
    source = aliased_binary_alternates(100, 50, 4000)
    assert len(source) < 300_000
    # the entries are accepted as texts of that size (nothing else refuses them)
    parsed_small = parse_source(aliased_binary_alternates(2, 50, 4000), "faq.yaml")
    assert all(len(a) == 4000 for a in parsed_small.entries[0].alternates)
    assert 100 * 50 * 4000 > MAX_SOURCE_BYTES
    # WHEN it is parsed THEN it is refused as the same source written with plain scalars is
    with pytest.raises(FaqSourceError, match="add up to over"):
        parse_source(source, "faq.yaml")
