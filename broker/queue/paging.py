"""Reading one logical list out of a stream per partition (events, DLQ), page by page.

Entries are ordered by (stream id, partition): ids of different partitions can be equal, so
the partition breaks ties and the cursor `<stream id>/<partition>` is exact (exclusive).
"""

from __future__ import annotations

import asyncio
import heapq
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from broker.errors import BadRequest
from broker.queue.connection import Client, stream_entries
from broker.queue.keys import STREAM_ID_MAX

T = TypeVar("T")
_BATCH = 200
SCAN_LIMIT = 20_000
"""Most entries one page request examines; a page cut short by filters gets a cursor."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where an entry stands in the merged order."""

    ms: int
    seq: int
    partition: int

    @property
    def stream_id(self) -> str:
        return f"{self.ms}-{self.seq}"

    @property
    def cursor(self) -> str:
        return f"{self.stream_id}/{self.partition}"


@dataclass(frozen=True, slots=True)
class Entry:
    position: Position
    fields: dict[bytes, bytes]


_CURSOR = re.compile(r"([0-9]{1,20})-([0-9]{1,20})/([0-9]{1,5})")


def parse_cursor(cursor: str | None, partitions: int) -> Position | None:
    """A cursor this module issued for one of `partitions`; BadRequest for anything else
    (Redis would refuse an id past 64 bits with an error, not an empty page)."""
    if not cursor:
        return None
    match = _CURSOR.fullmatch(cursor)
    position = Position(*map(int, match.groups())) if match else None
    if (
        position is None
        or max(position.ms, position.seq) > STREAM_ID_MAX
        or position.partition >= partitions
    ):
        shown = repr(cursor) if len(cursor) <= 64 else repr(cursor[:64]) + "..."
        raise BadRequest(f"invalid cursor {shown}")
    return position


def _position(stream_id: bytes, partition: int) -> Position:
    ms, seq = stream_id.split(b"-")
    return Position(int(ms), int(seq), partition)


async def _walk(
    redis: Client, key: str, partition: int, start: Position | None, newest_first: bool
) -> AsyncIterator[Entry]:
    """One partition's stream from `start` (exclusive) onwards, in batches."""
    bound = start.stream_id if start else ("+" if newest_first else "-")
    while True:
        if newest_first:
            batch = stream_entries(await redis.xrevrange(key, max=bound, min="-", count=_BATCH))
        else:
            batch = stream_entries(await redis.xrange(key, min=bound, max="+", count=_BATCH))
        for stream_id, fields in batch:
            position = _position(stream_id, partition)
            if start is not None and (position >= start if newest_first else position <= start):
                continue
            yield Entry(position, fields)
        if len(batch) < _BATCH:
            return
        last = batch[-1][0].decode()
        bound = "(" + last
        start = None


async def merged(
    redis: Client, keys: Sequence[str], cursor: str | None, newest_first: bool
) -> AsyncGenerator[Entry, None]:
    """All partitions' entries in one order, starting after `cursor`."""
    start = parse_cursor(cursor, len(keys))
    walkers = [_walk(redis, key, p, start, newest_first) for p, key in enumerate(keys)]
    heap: list[tuple[tuple[int, int, int], int, Entry]] = []

    def order(position: Position) -> tuple[int, int, int]:
        sign = -1 if newest_first else 1
        return (sign * position.ms, sign * position.seq, sign * position.partition)

    async def advance(index: int) -> None:
        entry = await anext(walkers[index], None)
        if entry is not None:
            heapq.heappush(heap, (order(entry.position), index, entry))

    # Every partition's first batch at once: on a cluster they are on different nodes.
    await asyncio.gather(*(advance(index) for index in range(len(walkers))))
    while heap:
        _, index, entry = heapq.heappop(heap)
        yield entry
        await advance(index)


async def page(
    entries: AsyncIterator[Entry], count: int, render: Callable[[Entry], Awaitable[T | None]]
) -> tuple[list[T], str | None]:
    """Up to `count` rendered entries (render returns None for those filtered out) and the
    cursor to continue from (None at the end)."""
    kept: list[T] = []
    examined = 0
    async for entry in entries:
        examined += 1
        item = await render(entry)
        if item is not None:
            kept.append(item)
            if len(kept) == count:
                return kept, entry.position.cursor
        if examined >= SCAN_LIMIT:
            return kept, entry.position.cursor
    return kept, None
