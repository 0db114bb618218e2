"""What an idle worker does: long blocking reads that a stop ends at once."""

from __future__ import annotations

import asyncio

import pytest

from broker.queue.consumer import Consumer
from broker.queue.keys import PartitionKeys
from tests.support.hookstream import Hookstream
from workers.worker import IDLE_BLOCK_MS

pytestmark = pytest.mark.integration


async def _blocked(hookstream: Hookstream, client_id: int) -> bool:
    clients = await hookstream.conn.redis.client_list()
    return any(int(c["id"]) == client_id and "b" in c["flags"] for c in clients)


async def test_unblock_ends_a_long_idle_read_at_once(hookstream: Hookstream) -> None:
    """A reader blocked for a minute on an empty stream returns no entry as soon as it is
    unblocked; unblocking a reader that is not blocked any more does nothing."""
    consumer = Consumer(hookstream.conn, "test-idle")
    reader = consumer.reader(PartitionKeys(0))
    read = asyncio.create_task(reader.read(1, 60_000))
    for _ in range(200):
        if reader.client_id is not None and await _blocked(hookstream, reader.client_id):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the reader never blocked")
    assert await consumer.unblock([reader]) == 1
    assert await asyncio.wait_for(read, 10) == []
    assert await consumer.unblock([reader]) == 0
    await reader.close()


async def test_an_idle_block_ends_before_the_socket_timeout(hookstream: Hookstream) -> None:
    """An idle partition's whole block passes without an error: a block as long as the
    client's socket timeout (5 s) failed with a TimeoutError and a reconnect, every time."""
    reader = Consumer(hookstream.conn, "test-idle").reader(PartitionKeys(0))
    assert await reader.read(1, IDLE_BLOCK_MS) == []
    await reader.close()
