"""Phone numbers as a voice agent hears them, made E.164.

Callers say "four one five, five five five, zero one three four" and the agent writes
"415 555 0134", "(415) 555-0134", "415.555.0134" or "+1 415-555-0134". All of these are the same
number, stored as ``+14155550134``.

Rules: spaces, dashes, dots, slashes and parentheses are ignored. A leading ``+`` (or the
international dialling prefixes ``00`` and ``011``) means a country code follows. Without one the
number is North American (NANP, country code 1): ten digits, or eleven starting with 1. Caller IDs
in ``tel:`` and ``sip:`` form (``sip:+14155550134@carrier.example``) are accepted too.
"""

from __future__ import annotations

import re

from toolserver import ToolError

__all__ = ["format_phone", "normalise_phone", "try_normalise_phone"]

_SEPARATORS = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"[0-9]+")


def try_normalise_phone(raw: str) -> str | None:
    """The E.164 form of ``raw``, or None when it is not a phone number."""
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith(("tel:", "sip:", "sips:")):
        text = text.split(":", 1)[1]
        text = text.split("@", 1)[0].split(";", 1)[0]
    text = _SEPARATORS.sub("", text)
    international = text.startswith("+")
    if international:
        text = text[1:]
    if not _DIGITS.fullmatch(text):
        return None
    digits = text
    if not international:
        if digits.startswith("00"):
            digits, international = digits[2:], True
        elif digits.startswith("011") and len(digits) > 11:
            digits, international = digits[3:], True
    if international:
        if digits.startswith("1"):  # NANP: +1 and exactly ten more digits
            return "+" + digits if len(digits) == 11 and digits[1] in "23456789" else None
        if 8 <= len(digits) <= 15 and digits[0] != "0":
            return "+" + digits
        return None
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10 and digits[0] in "23456789":
        return "+1" + digits
    return None


def normalise_phone(raw: str) -> str:
    """The E.164 form of ``raw``; a :class:`ToolError` for the model when it is not a number."""
    e164 = try_normalise_phone(raw)
    if e164 is None:
        raise ToolError(
            f"{raw.strip()!r} is not a phone number I can use. Ask the caller for the full number, "
            "including the area code (and the country code when it is outside North America), "
            "and pass it as digits.",
            detail="phone number did not normalise",
        )
    return e164


def format_phone(e164: str) -> str:
    """A readable form for speaking back: ``+1 415-555-0134`` (NANP), E.164 otherwise."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"+1 {e164[2:5]}-{e164[5:8]}-{e164[8:]}"
    return e164
