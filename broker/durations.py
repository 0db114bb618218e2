"""Duration strings as QStash writes them: `10s`, `5m`, `1h30m`, `1d10h30m3s`, bare seconds.

Retry-After style hints in responses use Go durations (`250ms`, `6m5s`), so milliseconds are
understood too. Everything is returned in integer milliseconds.
"""

from __future__ import annotations

import math
import re

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration_ms(text: str) -> int:
    """Parse a duration; a bare number means seconds. Raises ValueError on anything else."""
    value = text.strip().lower()
    if not value:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        ms = float(value) * 1000
    elif _WHOLE.fullmatch(value):
        ms = sum(float(n) * _UNIT_MS[unit] for n, unit in _PART.findall(value))
    else:
        raise ValueError(f"invalid duration {text!r} (use e.g. 10s, 5m, 2h, 1d, 1h30m)")
    if not math.isfinite(ms):  # hundreds of digits: float() gives inf, which round() refuses
        raise ValueError(f"duration {text[:32]!r}... is too large")
    return round(ms)
