"""Redis itself fails: killed with SIGKILL and restarted on the same data dir, or out of
memory under `noeviction`. The ingress never answers 2xx for what it did not store, and what
it did acknowledge survives as far as the persistence setting promises."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.api import until
from tests.support.hookstream import Hookstream
from tests.support.hostile import slow
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink

CONCURRENCY = 20  # per worker: the most deliveries one can have in flight at the kill


@pytest.mark.parametrize(
    "redis_config", [{"fsync": "always"}, {"fsync": "everysec"}], ids=["always", "everysec"]
)
async def test_redis_kill_and_restart(
    ingress: Hookstream,
    ledger: Ledger,
    sink: Sink,
    roles: Roles,
    valkey: RedisProcess,
) -> None:
    """Steady publishing and two workers; redis-server is killed with SIGKILL, stays down for
    2 s and restarts on the same dir and port. Meanwhile publishes are answered 503 with
    Retry-After (never 2xx); afterwards every role carries on by itself. With `always` nothing
    acknowledged may be lost; with `everysec` a process crash loses nothing either (the AOF
    reaches the OS before the reply; only a host crash can lose the last second), and the
    verdict records what it did lose."""
    assert ingress.http is not None
    sink.respond = slow(0.05)
    for _ in range(2):
        await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY=str(CONCURRENCY))
    stop = asyncio.Event()
    path = f"/v2/publish/{sink.url()}"
    publishing = asyncio.create_task(ledger.publish_until(ingress.http, path, stop, limit=1500))
    await sink.wait_for(50, timeout=30)
    in_flight = await ledger.mark_fault()
    valkey.kill()
    await asyncio.sleep(2)  # the outage
    refused_while_down = sum(ledger.refused.values())
    await asyncio.to_thread(valkey.restart)
    acknowledged_before = len(ledger.acknowledged)
    await until(lambda: len(ledger.acknowledged) >= acknowledged_before + 50, what="recovery")
    stop.set()
    await publishing

    assert refused_while_down > 0
    assert set(ledger.refused) == {503}
    assert ledger.refused_without_retry_after == 0
    await ledger.verify(
        sink,
        ingress.http,
        f"Redis SIGKILL + restart, appendfsync {valkey.fsync}",
        max_duplicates=2 * CONCURRENCY,
        allow_lost=valkey.fsync != "always",
        in_flight_at_kill=in_flight,
        refused_503=refused_while_down,
    )
