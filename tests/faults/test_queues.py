"""`DELETE /v2/queues/{q}` racing with enqueues: every enqueue answered 201 is delivered or
cancelled, none is stranded in a wait list with no gate (gate_delete.lua); and the same race
with the keys deleted outright shows the ledger would catch a regression."""

from __future__ import annotations

import asyncio

from broker.queue.keys import queue_partition
from tests.support.hookstream import Hookstream
from tests.support.hostile import slow
from tests.support.ledger import Ledger
from tests.support.procs import PARTITIONS, Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink


async def test_queue_delete_races_enqueues(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """300 enqueues to a parallelism-1 queue from 8 clients while the queue is deleted
    back to back: each acknowledged message is delivered or cancelled, and no wait list, gate
    or delayed set holds anything at the end."""
    assert ingress.http is not None
    sink.respond = slow(0.01)
    await roles.worker(valkey.url)
    keys = [f"c-{i}" for i in range(300)]
    path = f"/v2/enqueue/racing/{sink.url()}"
    enqueuing = asyncio.create_task(ledger.publish_all(ingress.http, path, keys, concurrency=8))
    deletes: list[int] = []
    while not enqueuing.done():
        async with ingress.http.delete("/v2/queues/racing") as resp:
            deletes.append(resp.status)
        await asyncio.sleep(0.002)
    await enqueuing
    assert 200 in deletes
    verdict = await ledger.verify(
        sink, ingress.http, "queue delete racing enqueues", max_duplicates=0, deletes=len(deletes)
    )
    assert verdict.delivered + verdict.cancelled == 300


async def test_the_ledger_catches_a_delete_that_drops_the_wait_list(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """The same race with the queue removed the way gate_delete.lua replaced (its hash and
    wait list deleted outright, behind the API): the ledger reports the acknowledged
    messages that went with the wait list as lost, so the case above can fail."""
    assert ingress.http is not None
    sink.respond = slow(0.01)
    await roles.worker(valkey.url)
    keys = [f"c-{i}" for i in range(300)]
    path = f"/v2/enqueue/racing/{sink.url()}"
    enqueuing = asyncio.create_task(ledger.publish_all(ingress.http, path, keys, concurrency=8))
    gate, wait = queue_partition("racing", PARTITIONS).queue_keys("racing")
    while not enqueuing.done():
        await ledger.redis.delete(gate, wait)
        await asyncio.sleep(0.002)
    await enqueuing
    verdict = await ledger.verdict(sink, ingress.http, "queue keys deleted behind the API")
    assert verdict.lost
