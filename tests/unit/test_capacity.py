"""The worker's delivery slots: one global limit, a fair cap per busy partition."""

from __future__ import annotations

import asyncio

import pytest

from workers.capacity import Capacity


async def test_slots_over_many_partitions_never_exceed_the_size() -> None:
    """64 slots over 48 partitions, every reader asking for as many as it may: never more
    than 64 taken in all (a fixed ceil(64/48) share per partition allowed 96)."""
    capacity = Capacity(64, 48)
    assert await capacity.take(0, 100) == 64
    readers = [asyncio.create_task(capacity.take(p, 100)) for p in range(1, 48)]
    await asyncio.sleep(0)
    assert not any(reader.done() for reader in readers)
    capacity.give_back(0, 64)
    await asyncio.sleep(0)
    done = [reader.result() for reader in readers if reader.done()]
    assert sum(capacity.held) == sum(done) == 64
    assert max(done) == capacity.share() == 2
    for reader in readers:
        reader.cancel()


async def test_a_hot_partition_alone_gets_every_slot() -> None:
    """With the other partitions idle, one partition may hold the whole capacity."""
    capacity = Capacity(64, 48)
    assert await capacity.take(5, 100) == 64


async def test_freed_slots_go_to_a_waiting_partition_under_its_share() -> None:
    """A hot partition holds everything; another gets busy: the hot one takes nothing more
    until it is under the common share, and what it frees goes to the newcomer."""
    capacity = Capacity(8, 4)
    assert await capacity.take(0, 100) == 8
    newcomer = asyncio.create_task(capacity.take(1, 100))
    await asyncio.sleep(0)
    assert not newcomer.done()
    capacity.give_back(0, 2)  # the hot one still holds 6, over the share of 4
    assert await asyncio.wait_for(newcomer, 1) == 2
    hot_again = asyncio.create_task(capacity.take(0, 100))
    capacity.give_back(0, 3)  # holds 3: 1 under the share of 4
    assert await asyncio.wait_for(hot_again, 1) == 1
    assert capacity.held == [4, 2, 0, 0]
    assert capacity.free == 2


async def test_an_idle_partition_stops_counting_as_busy() -> None:
    """Once a partition holds nothing and waits for nothing, the share grows back."""
    capacity = Capacity(10, 2)
    await capacity.take(0, 5)
    await capacity.take(1, 5)
    assert capacity.share() == 5
    capacity.give_back(1, 5)
    assert capacity.share() == 10
    assert await capacity.take(0, 100) == 5


@pytest.mark.parametrize("limit", [1, 3])
async def test_take_respects_the_callers_limit(limit: int) -> None:
    """A reader asks for at most as many as it can read in one call."""
    assert await Capacity(16, 2).take(0, limit) == limit


async def test_a_reader_waits_for_its_least_then_takes_all_it_may() -> None:
    """Asking for at least 4: the slots freed one by one are not taken until 4 are free,
    then all that are free go to the reader in one take."""
    capacity = Capacity(8, 1)
    assert await capacity.take(0, 100) == 8
    reader = asyncio.create_task(capacity.take(0, 100, least=4))
    for freed in range(1, 4):
        capacity.give_back(0)
        await asyncio.sleep(0)
        assert not reader.done(), f"took slots with only {freed} free"
    capacity.give_back(0, 2)
    assert await asyncio.wait_for(reader, 1) == 5
    assert capacity.free == 0


async def test_least_never_asks_for_more_than_the_share() -> None:
    """Asking for at least 6 where the share is 2 (four busy partitions of 8 slots): two
    free slots under the share are enough, or the reader would wait forever."""
    capacity = Capacity(8, 4)
    for partition in range(4):
        assert await capacity.take(partition, 2) == 2
    assert capacity.share() == 2
    reader = asyncio.create_task(capacity.take(3, 100, least=6))
    capacity.give_back(3)
    await asyncio.sleep(0)
    assert not reader.done()
    capacity.give_back(3)
    assert await asyncio.wait_for(reader, 1) == 2
