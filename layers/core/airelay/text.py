"""What counts as no text at all."""

from __future__ import annotations

import unicodedata

# Unicode's Default_Ignorable_Code_Point characters that are not format characters (Cf): they render as nothing too.
# The Hangul fillers are how a Korean keyboard types a "blank".
IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),  # tags and the variation selectors supplement
)


def is_invisible(c: str) -> bool:
    if c.isspace() or c == "\0" or unicodedata.category(c) == "Cf":
        return True
    code = ord(c)
    return any(low <= code <= high for low, high in IGNORABLE_RANGES)


def is_blank(text: str) -> bool:
    """Only whitespace, NUL or invisible characters (zero-width spaces and joiners, the byte order mark, Hangul
    fillers, variation selectors): nothing a model could read, however many code points. Stops at the first visible
    character."""
    return all(is_invisible(c) for c in text)
