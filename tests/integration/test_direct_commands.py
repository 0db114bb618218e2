"""broker/queue/direct.py against a real server: the replies of commands sent together come
back in order, an error reply is its command's result, and a connection whose reply was never
read (a timeout, a cancel) is closed instead of going back to the pool to answer the next
caller with a stale reply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError, TimeoutError

from broker.queue.connection import Connection
from broker.queue.direct import send_commands
from broker.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Connection.open(Settings(), redis_url, "standalone").redis
    assert isinstance(client, Redis)
    yield client
    await client.aclose()


async def test_replies_come_back_in_order_with_errors_as_values(redis: Redis) -> None:
    replies = await send_commands(
        redis,
        [
            ("SET", "k", "1"),
            ("INCR", "k"),
            ("EVALSHA", "0" * 40, 0),
            ("HSET", "k", "f", "v"),  # k holds a string: WRONGTYPE
            ("GET", "k"),
        ],
    )
    assert replies[:2] == [b"OK", 2]
    assert isinstance(replies[2], NoScriptError)
    assert isinstance(replies[3], ResponseError)
    assert "WRONGTYPE" in str(replies[3])
    assert replies[4] == b"2"
    # The error replies left the connection in step: it is reused and answers correctly.
    assert await send_commands(redis, [("GET", "k")]) == [b"2"]
    assert len(redis.connection_pool._available_connections) == 1


async def test_a_reply_never_read_closes_its_connection(redis: Redis) -> None:
    """A caller cancelled while its command runs: the reply still arrives on that socket,
    so the connection must not serve the next caller."""
    blocker = asyncio.create_task(send_commands(redis, [("BLPOP", "nothing", 5)]))
    await asyncio.sleep(0.2)
    blocker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocker
    # Were the connection still open, its BLPOP would take this and answer the next caller.
    await send_commands(redis, [("RPUSH", "nothing", "late")])
    assert await send_commands(redis, [("PING",)]) == [b"PONG"]
    assert await send_commands(redis, [("LLEN", "nothing")]) == [1]


async def test_a_timeout_raises_and_the_next_call_gets_a_fresh_connection(
    redis_url: str,
) -> None:
    client = Connection.open(Settings(redis_timeout_ms=300), redis_url, "standalone").redis
    assert isinstance(client, Redis)
    try:
        with pytest.raises(TimeoutError):
            await send_commands(client, [("BLPOP", "nothing", 2)])
        assert await send_commands(client, [("ECHO", "fresh")]) == [b"fresh"]
    finally:
        await client.aclose()
