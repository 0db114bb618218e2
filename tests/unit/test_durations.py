"""Duration strings as QStash and Go write them."""

from __future__ import annotations

import pytest

from broker.durations import parse_duration_ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10s", 10_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("1h30m", 5_400_000),
        ("1h30m3s", 5_403_000),
        ("1d10h30m", 124_200_000),
        ("30", 30_000),
        ("250ms", 250),
        ("1.5s", 1500),
        (" 7S ", 7000),
    ],
)
def test_valid_durations(text: str, expected: int) -> None:
    """Every documented form parses to milliseconds."""
    assert parse_duration_ms(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "10x", "-5s", "1h 30m", "s10", "9" * 400, "9" * 400 + "d"]
)
def test_invalid_durations(text: str) -> None:
    """Anything else is refused rather than guessed."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(text)
