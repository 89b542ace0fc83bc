"""What counts as no text at all."""

from __future__ import annotations

import unicodedata


def is_blank(text: str) -> bool:
    """Only whitespace, NUL or invisible format characters (zero-width spaces and joiners, the byte order mark, the
    word joiner): nothing a model could read, however many code points. Stops at the first visible character."""
    return all(c.isspace() or c == "\0" or unicodedata.category(c) == "Cf" for c in text)
