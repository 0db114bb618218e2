"""Cron expressions of schedules: parsing and the next fire time (pure; no clock of its own).

The ingress validates `Upstash-Cron` and shows `nextScheduleTime`; the scheduler advances each
schedule after a tick. Both call `next_fire_ms` with a "now" read from Redis TIME, so every
replica and the API agree on every fire time whatever the hosts' clocks say.

Syntax (qstash-api.md 3.5): five fields (minute hour day-of-month month day-of-week), evaluated
in UTC, with an optional `CRON_TZ=<IANA zone> ` prefix (`TZ=` is accepted too, as Go's cron
parser does). A six-field form with seconds first exists only for tests
(`allow_seconds=True`); the public API stays five fields.

Daylight saving time (a zone prefix only), decided on the zone's wall clock:
- a wall time that does not exist (spring forward) fires at the instant the clock jumps, so a
  daily 02:30 job runs at 03:00 on that day instead of being skipped (as Vixie cron does);
- a wall time that exists twice (fall back) fires once, at its first occurrence, so a daily
  job never runs twice. Interval schedules in a zone therefore pause for the repeated hour;
  use UTC (no prefix) for schedules that must keep an exact rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

_ZONE_PREFIXES = ("CRON_TZ=", "TZ=")
# A fall-back hour holds at most 3600 candidate seconds that fired at their first occurrence.
_MAX_SKIPPED = 4000


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression: its fields and the zone they are read in."""

    text: str
    fields: str
    zone: ZoneInfo | None = None


def parse_cron(text: str, allow_seconds: bool = False) -> Cron:
    """Parse and validate `text`; ValueError with a message fit for a 400 answer."""
    fields, zone = _split_zone(text.strip())
    allowed = (5, 6) if allow_seconds else (5,)
    if len(fields.split()) not in allowed:
        raise ValueError(
            f"invalid cron {text!r}: it must have 5 fields (minute hour day month weekday)"
        )
    cron = Cron(text=text.strip(), fields=" ".join(fields.split()), zone=zone)
    try:
        next_fire_ms(cron, 0)
    except CroniterError as exc:
        raise ValueError(f"invalid cron {text!r}: {exc}") from None
    return cron


def next_fire_ms(cron: Cron, after_ms: int) -> int:
    """The first fire time strictly after `after_ms` (Unix ms), in Unix ms."""
    zone = cron.zone or UTC
    after = datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=after_ms)
    wall = after.astimezone(zone).replace(tzinfo=None)
    candidates = croniter(cron.fields, wall, second_at_beginning=True)
    for _ in range(_MAX_SKIPPED):
        instant = _instant(candidates.get_next(datetime), zone)
        # Only a candidate in a repeated hour whose first occurrence is already past is skipped.
        if instant > after:
            return int(instant.timestamp() * 1000)
    raise CroniterError(f"no fire time found after {after.isoformat()}")


def _split_zone(text: str) -> tuple[str, ZoneInfo | None]:
    """`CRON_TZ=Europe/Berlin 0 4 * * *` → ("0 4 * * *", Europe/Berlin)."""
    prefix = next((p for p in _ZONE_PREFIXES if text.upper().startswith(p)), None)
    if prefix is None:
        return text, None
    name, _, fields = text[len(prefix) :].partition(" ")
    try:
        return fields, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"invalid cron {text!r}: unknown time zone {name!r}") from None


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a naive wall time: its first occurrence, or the jump over a gap."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: tzinfo) -> datetime:
    """The instant the clock jumps over the non-existent `wall` (bisection to the second).

    In a gap, fold=1 applies the offset after the jump (an instant still before it) and fold=0
    the offset before the jump (an instant after it), so the jump lies between the two.
    """
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(wall.replace(tzinfo=zone, fold=0).timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)
