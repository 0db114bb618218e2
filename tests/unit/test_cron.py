"""The pure next-fire function: UTC, CRON_TZ, daylight saving transitions, invalid crons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.cron import next_fire_ms, parse_cron


def _ms(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def _fires(text: str, after_ms: int, count: int, allow_seconds: bool = False) -> list[str]:
    """The next `count` fire times after `after_ms`, as UTC `YYYY-MM-DD HH:MM:SS`."""
    cron = parse_cron(text, allow_seconds=allow_seconds)
    times = []
    for _ in range(count):
        after_ms = next_fire_ms(cron, after_ms)
        times.append(datetime.fromtimestamp(after_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S"))
    return times


class TestUtc:
    def test_every_minute_fires_on_the_minute_boundary(self) -> None:
        """From 12:00:30.5 the next fire of `* * * * *` is exactly 12:01:00.000."""
        assert next_fire_ms(parse_cron("* * * * *"), _ms(2024, 1, 1, 12, 0, 30) + 500) == _ms(
            2024, 1, 1, 12, 1
        )

    def test_strictly_after(self) -> None:
        """A fire time equal to "now" is not returned again: the next one is."""
        assert _fires("* * * * *", _ms(2024, 1, 1, 12, 1), 2) == [
            "2024-01-01 12:02:00",
            "2024-01-01 12:03:00",
        ]

    def test_daily_and_weekday_fields(self) -> None:
        """`0 0 * * *` fires at midnight UTC; `30 9 * * 1-5` skips the weekend."""
        assert _fires("0 0 * * *", _ms(2024, 1, 1, 0, 0, 1), 1) == ["2024-01-02 00:00:00"]
        assert _fires("30 9 * * 1-5", _ms(2024, 1, 5, 10), 2) == [  # a Friday
            "2024-01-08 09:30:00",
            "2024-01-09 09:30:00",
        ]

    def test_whitespace_is_normalised(self) -> None:
        """Extra spaces around and between fields are accepted and the text is kept trimmed."""
        cron = parse_cron("  */15   *  * * *  ")
        assert cron.text == "*/15   *  * * *"
        assert cron.fields == "*/15 * * * *"


class TestZones:
    def test_cron_tz_shifts_with_daylight_saving(self) -> None:
        """04:00 in New York is 08:00 UTC in summer and 09:00 UTC in winter."""
        assert _fires("CRON_TZ=America/New_York 0 4 * * *", _ms(2024, 7, 1), 1) == [
            "2024-07-01 08:00:00"
        ]
        assert _fires("CRON_TZ=America/New_York 0 4 * * *", _ms(2024, 1, 1), 1) == [
            "2024-01-01 09:00:00"
        ]

    def test_tz_prefix_is_accepted_too(self) -> None:
        """`TZ=` works like `CRON_TZ=`, as in Go's cron parser."""
        assert _fires("TZ=Europe/Berlin 0 12 * * *", _ms(2024, 1, 1), 1) == ["2024-01-01 11:00:00"]

    def test_spring_forward_new_york(self) -> None:
        """On 2024-03-10 02:30 does not exist in New York: the job runs at the jump (03:00
        EDT = 07:00 UTC), and on the next day at 02:30 EDT again."""
        assert _fires("CRON_TZ=America/New_York 30 2 * * *", _ms(2024, 3, 9, 12), 2) == [
            "2024-03-10 07:00:00",
            "2024-03-11 06:30:00",
        ]

    def test_spring_forward_interval_keeps_its_rhythm(self) -> None:
        """Every 30 minutes across the New York jump: 01:30 EST, then 03:00 EDT, 03:30 EDT."""
        assert _fires("CRON_TZ=America/New_York */30 * * * *", _ms(2024, 3, 10, 6), 3) == [
            "2024-03-10 06:30:00",
            "2024-03-10 07:00:00",
            "2024-03-10 07:30:00",
        ]

    def test_fall_back_new_york_fires_once(self) -> None:
        """On 2024-11-03 01:30 happens twice in New York: the daily job runs at the first
        (EDT, 05:30 UTC) only, and the next day at 01:30 EST (06:30 UTC)."""
        assert _fires("CRON_TZ=America/New_York 30 1 * * *", _ms(2024, 11, 2, 12), 2) == [
            "2024-11-03 05:30:00",
            "2024-11-04 06:30:00",
        ]

    def test_fall_back_from_inside_the_repeated_hour(self) -> None:
        """Asked during the second 01:xx (01:10 EST), the already-passed first 01:30 does not
        fire again: the next fire is the following day."""
        cron = parse_cron("CRON_TZ=America/New_York 30 1 * * *")
        assert next_fire_ms(cron, _ms(2024, 11, 3, 6, 10)) == _ms(2024, 11, 4, 6, 30)

    def test_fall_back_interval_pauses_for_the_repeated_hour(self) -> None:
        """Every 30 minutes across the New York fall-back: 01:00 and 01:30 EDT, then 02:00 EST
        (the documented one-hour pause; UTC schedules never pause)."""
        assert _fires("CRON_TZ=America/New_York */30 * * * *", _ms(2024, 11, 3, 4, 40), 3) == [
            "2024-11-03 05:00:00",
            "2024-11-03 05:30:00",
            "2024-11-03 07:00:00",
        ]

    def test_spring_forward_berlin(self) -> None:
        """On 2024-03-31 Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC): 02:30 runs at
        01:00 UTC, the next day at 02:30 CEST (00:30 UTC)."""
        assert _fires("CRON_TZ=Europe/Berlin 30 2 * * *", _ms(2024, 3, 30, 12), 2) == [
            "2024-03-31 01:00:00",
            "2024-04-01 00:30:00",
        ]

    def test_fall_back_berlin(self) -> None:
        """On 2024-10-27 Berlin repeats 02:00-03:00: 02:30 runs once, at 02:30 CEST (00:30 UTC),
        the next day at 02:30 CET (01:30 UTC)."""
        assert _fires("CRON_TZ=Europe/Berlin 30 2 * * *", _ms(2024, 10, 26, 12), 2) == [
            "2024-10-27 00:30:00",
            "2024-10-28 01:30:00",
        ]


class TestSeconds:
    def test_six_fields_only_when_allowed(self) -> None:
        """The public syntax has 5 fields; the test-only form adds seconds first."""
        with pytest.raises(ValueError, match="5 fields"):
            parse_cron("*/2 * * * * *")
        assert _fires("*/2 * * * * *", _ms(2024, 1, 1, 12) + 500, 3, allow_seconds=True) == [
            "2024-01-01 12:00:02",
            "2024-01-01 12:00:04",
            "2024-01-01 12:00:06",
        ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "5 fields"),
        ("* * * *", "5 fields"),
        ("* * * * * * *", "5 fields"),
        ("@daily", "5 fields"),
        ("61 * * * *", "invalid cron"),
        ("*/0 * * * *", "invalid cron"),
        ("0 0 * * 8", "invalid cron"),
        ("a b c d e", "invalid cron"),
        ("0 0 30 2 *", "invalid cron"),
        ("CRON_TZ=Mars/Olympus 0 0 * * *", "unknown time zone"),
        ("CRON_TZ=America/New_York", "5 fields"),
    ],
)
def test_invalid_crons_are_rejected(text: str, error: str) -> None:
    """Wrong field counts, out-of-range values, dates that never occur and unknown zones
    raise ValueError with a message fit for a 400 answer."""
    with pytest.raises(ValueError, match=error):
        parse_cron(text)
