"""What an idle worker does: long blocking reads that a stop ends at once."""

from __future__ import annotations

import asyncio

import pytest

from broker.queue.consumer import Consumer
from tests.support.hookstream import Hookstream
from workers.worker import idle_block_ms

pytestmark = pytest.mark.integration


async def _blocked(hookstream: Hookstream, client_id: int) -> bool:
    clients = await hookstream.conn.redis.client_list()
    return any(int(c["id"]) == client_id and "b" in c["flags"] for c in clients)


async def test_unblock_ends_a_long_idle_read_at_once(hookstream: Hookstream) -> None:
    """A reader blocked for a minute on an empty stream returns no entry as soon as it is
    unblocked; unblocking a reader that is not blocked any more does nothing."""
    consumer = Consumer(hookstream.conn, "test-idle")
    reader = consumer.reader(hookstream.conn.partitions[0])
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
    client's reply timeout (HOOKSTREAM_REDIS_TIMEOUT) failed with a TimeoutError and a
    reconnect, every time."""
    settings = hookstream.conn.settings
    assert idle_block_ms(settings) < settings.redis_timeout_ms
    reader = Consumer(hookstream.conn, "test-idle").reader(hookstream.conn.partitions[0])
    assert await reader.read(1, idle_block_ms(settings)) == []
    await reader.close()
