"""is_blank: what the FAQ, sentiment and chat routes refuse as empty text (422)."""

import pytest

from airelay.text import is_blank


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \t\n",
        "\u200b",
        "\u2060\u200b",
        "\ufeff \u200b",
        "\u3000",
        "\0",
        "\u200d\u200c",
        "\u3164",
        "\uffa0 \u115f\u1160",
        "\ufe0f\u034f",
        "\U000e0041",
    ],
)
def test_whitespace_nul_and_invisible_format_characters_are_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "\u200b안녕", "🙂", "\u200b.", "1", "\u2764\ufe0f", "\u3164ㄱ"])
def test_anything_visible_is_not_blank(text):
    assert not is_blank(text)
