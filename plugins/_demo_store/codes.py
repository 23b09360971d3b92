"""Reference codes as callers say them: "ord 10517", "order number 10517", "#10517" -> ORD-10517."""

from __future__ import annotations

import re

__all__ = ["normalise_code"]

_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def normalise_code(
    raw: str, words: tuple[str, ...], *, min_digits: int = 3, max_digits: int = 10
) -> str | None:
    """The digits of a reference code, or None when ``raw`` is not one.

    Case, spaces, dashes, ``#`` and a leading prefix word (``words``, longest first, e.g.
    ``("ORDERNUMBER", "ORDER", "ORD")``) are ignored; what remains must be digits.
    """
    text = _NOT_ALNUM.sub("", raw.upper())
    for word in words:
        if text.startswith(word):
            text = text[len(word) :]
            break
    if not text.isdigit() or not min_digits <= len(text) <= max_digits:
        return None
    return text
