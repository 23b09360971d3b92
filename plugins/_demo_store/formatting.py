"""Texts for a voice agent to read out: money, days and clock times."""

from __future__ import annotations

import datetime as dt

__all__ = ["money", "spoken_date", "spoken_time"]

_SYMBOLS = {"USD": "$", "CAD": "CA$", "EUR": "€", "GBP": "£"}


def money(cents: int, currency: str = "USD") -> str:
    """``129900`` -> ``$1,299.00``."""
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def spoken_date(day: dt.date) -> str:
    """``2025-03-07`` -> ``Friday, March 7``."""
    return f"{day:%A}, {day:%B} {day.day}"


def spoken_time(moment: dt.datetime | dt.time) -> str:
    """``14:30`` -> ``2:30 PM``; ``09:00`` -> ``9:00 AM``."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"
