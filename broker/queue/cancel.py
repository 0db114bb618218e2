"""Cancelling a message: the one path used by single cancel, bulk cancel and queue deletion."""

from __future__ import annotations

from broker.queue import scripts
from broker.queue.connection import Connection
from broker.queue.keys import keys_for
from broker.queue.store import load_message


async def cancel_message(conn: Connection, message_id: str) -> bool:
    """Cancel one message so it is never delivered (again), retried or dead-lettered.

    False when it is unknown, already final (delivered, dead-lettered) or already cancelling.
    """
    message = await load_message(conn.redis, message_id)
    if message is None:
        return False
    partition = keys_for(message_id)
    keys = partition.gate(message.envelope.queue_name, message.envelope.flow_control_key)
    keys["message"] = partition.message(message_id)
    args = {"message_id": message_id}
    return bool(await conn.scripts.call(scripts.CANCEL, partition, keys, args))
