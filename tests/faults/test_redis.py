"""Redis itself fails: killed with SIGKILL and restarted on the same data dir, or out of
memory under `noeviction`. The ingress never answers 2xx for what it did not store, and what
it did acknowledge survives as far as the persistence setting promises."""

from __future__ import annotations

import asyncio

import pytest

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
        roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY=str(CONCURRENCY))
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
    await _until(lambda: len(ledger.acknowledged) >= acknowledged_before + 50)
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


async def _until(check: object, timeout: float = 30.0) -> None:
    """Wait for a synchronous condition while the event loop keeps running."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_redis_out_of_memory(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """`maxmemory` a few MB above what Redis holds, `noeviction`: 20 KB publishes are
    acknowledged until memory runs out, then answered 503 with Retry-After, never 2xx. Once
    the operator raises the limit, the workers drain and publishing resumes; nothing
    acknowledged was dropped."""
    assert ingress.http is not None
    redis = ledger.redis
    used = int((await redis.info("memory"))["used_memory"])
    await redis.config_set("maxmemory", str(used + 3 * 1024 * 1024))
    path = f"/v2/publish/{sink.url()}"
    refusals_in_a_row = 0
    for n in range(1000):
        status = await ledger.publish(ingress.http, path, f"c-{n}-" + "x" * 20_000)
        refusals_in_a_row = refusals_in_a_row + 1 if status == 503 else 0
        if refusals_in_a_row == 20:
            break
    assert refusals_in_a_row == 20, "Redis never ran out of memory"
    assert set(ledger.refused) == {503}
    assert ledger.refused_without_retry_after == 0
    full = len(ledger.acknowledged)
    assert full > 0
    worker = roles.worker(valkey.url)
    drained_while_full = await ledger.drain(timeout=5)
    await redis.config_set("maxmemory", "0")  # the operator raises the limit
    assert await ledger.publish(ingress.http, path, "after-the-limit-was-raised") == 201
    assert worker.process.poll() is None
    await ledger.verify(
        sink,
        ingress.http,
        "Redis out of memory (noeviction)",
        max_duplicates=0,
        acknowledged_before_oom=full,
        drained_while_full=not drained_while_full,
    )
