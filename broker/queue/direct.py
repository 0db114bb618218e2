"""Commands sent together on one pooled connection, their replies read in order: the hot
path of every script call off a cluster, without redis-py's per-call layers.

`Redis.execute_command` and `Pipeline.execute` wrap each call in a retry loop (ours are set
never to retry: connection.py), lambdas for it, event dispatch and observability records;
measured side by side, that is ~20 µs a call beside the same command on a pooled connection
(docs/performance-log.md, 2026-12-03 fourth entry). Script calls are most of what a worker
and an ingress send, so they come here.

The semantics are those of a non-transactional pipeline with `raise_on_error=False`: the
pool's connection, its timeouts, its Sentinel master lookup; an error reply is that
command's result; anything else (a dropped connection, a timeout, a cancel) disconnects the
connection, so one with an unread reply never goes back to the pool, and raises. Nothing is
ever re-sent (connection.py: a reply lost may belong to a script that ran).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError
from redis.typing import EncodableT


async def send_commands(redis: Redis, commands: Sequence[Sequence[EncodableT]]) -> list[Any]:
    """Each command's reply, or its error reply as a ResponseError, in order."""
    pool = redis.connection_pool
    # redis-py's deprecation wrapper leaves get_connection untyped; it returns a Connection.
    connection: Connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as error:  # a whole reply was read: the connection is fine
                replies.append(error)
        return replies
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
