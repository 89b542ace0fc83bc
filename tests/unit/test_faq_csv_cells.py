"""A CSV FAQ row with more cells than the header has columns (the usual slip: an answer with an unquoted comma,
`3,000원`, the way every Korean shop writes a price) is refused naming the line, not cut at the comma (csv.DictReader
puts the surplus cells under the key None). README: a source that cannot be used is "refused with a short reason
naming the file and, where known, the line"."""

import pytest

from airelay.faq.source import FaqSourceError, parse_source

ROW = "shipping-fee,배송비는 얼마인가요?,기본 배송비는 3,000원입니다.\n"


def test_a_row_with_more_cells_than_the_header_is_refused_not_cut_at_the_comma():
    # GIVEN a CSV source whose answer holds an unquoted comma
    data = ("id,question,answer\n" + ROW).encode()
    # WHEN it is parsed THEN it is refused with the line, rather than becoming the answer "기본 배송비는 3"
    with pytest.raises(FaqSourceError, match="line 2") as refused:
        entries = parse_source(data, "faq.csv").entries
        pytest.fail(f"parsed as {[e.answer for e in entries]}")
    assert str(refused.value).startswith("faq.csv: ") and len(str(refused.value)) < 200


def test_a_header_naming_a_column_twice_is_refused():
    # GIVEN a header with two answer columns (only the last would be kept)
    data = b"id,question,answer,answer\nfee,How much?,3000 won,free\n"
    # WHEN it is parsed THEN it is refused, not read with one of them dropped
    with pytest.raises(FaqSourceError, match="names a column twice"):
        parse_source(data, "faq.csv")


def test_an_empty_cell_past_the_header_is_only_a_trailing_comma():
    # GIVEN a row ending in a comma (an empty cell past the header) WHEN it is parsed THEN the entry is read whole
    data = b'id,question,answer\nfee,How much?,"3,000 won",\n'
    assert [e.answer for e in parse_source(data, "faq.csv").entries] == ["3,000 won"]
