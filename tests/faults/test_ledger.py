"""The ledger can fail: a message acknowledged and then removed behind the system's back is
reported lost, and `verify` refuses the run."""

from __future__ import annotations

import pytest

from broker.queue.keys import keys_for
from tests.support.hookstream import Hookstream
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink


async def test_a_message_deleted_behind_the_systems_back_is_lost(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """Given 30 acknowledged messages, when one is deleted from Redis (hash and stream entry)
    before any worker runs, then the ledger reports exactly that one lost."""
    assert ingress.http is not None
    path = f"/v2/publish/{sink.url()}"
    await ledger.publish_all(ingress.http, path, [f"c-{i}" for i in range(30)])
    victim = next(iter(ledger.acknowledged))
    partition = keys_for(victim)
    for entry_id, fields in await ledger.redis.xrange(partition.ready):
        if fields[b"id"] == victim.encode():
            await ledger.redis.xdel(partition.ready, entry_id)
    await ledger.redis.delete(partition.message(victim))
    await roles.worker(valkey.url)

    verdict = await ledger.verdict(sink, ingress.http, "message deleted behind its back")
    assert verdict.lost == [victim]
    assert verdict.delivered == 29
    with pytest.raises(AssertionError, match="lost 1"):
        await ledger.verify(sink, ingress.http, "negative control: 1 deleted, must be lost")
