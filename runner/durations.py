"""Durations and timeframes written as ``30s``, ``15m``, ``4h``, ``1d``, ``1w``, and cycle times as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``15m``; raises ValueError with the accepted forms."""
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"'{text}' is not a duration; write a whole number and a unit: 30s, 15m, 4h, 1d or 1w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest exact spelling of a duration: 900 -> ``15m``."""
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_time(ms: int) -> str:
    """A cycle time (ms since the epoch) as UTC text, e.g. ``2025-05-04 15:33``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
