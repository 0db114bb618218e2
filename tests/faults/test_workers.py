"""Worker processes killed (SIGKILL), stopped (SIGTERM) and frozen (SIGSTOP) under load:
nothing acknowledged is lost, duplicates stay within what was in flight."""

from __future__ import annotations

import asyncio
import signal

from tests.support.hookstream import Hookstream
from tests.support.hostile import slow
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink

MESSAGES = 300


async def _publish_in_background(ingress: Hookstream, ledger: Ledger, sink: Sink) -> asyncio.Task:
    assert ingress.http is not None
    keys = [f"c-{i}" for i in range(MESSAGES)]
    return asyncio.create_task(
        ledger.publish_all(ingress.http, f"/v2/publish/{sink.url()}", keys, concurrency=8)
    )


async def test_worker_sigkill_under_load(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """Two workers, 300 messages published while they deliver to a slow sink; one worker is
    killed with SIGKILL once 60 arrived: the other reclaims its entries after the visibility
    timeout, every acknowledged message arrives, duplicates ≤ entries pending at the kill."""
    sink.respond = slow(0.1)
    victim = await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    publishing = await _publish_in_background(ingress, ledger, sink)
    await sink.wait_for(60, timeout=30)
    in_flight = await ledger.mark_fault()
    victim.signal(signal.SIGKILL)
    victim.wait_exit()
    await publishing
    assert ingress.http is not None
    await ledger.verify(sink, ingress.http, "worker SIGKILL", in_flight_at_kill=in_flight)


async def test_worker_sigterm_under_load(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """SIGTERM to one of two workers mid-load: it stops reading, finishes its in-flight
    deliveries within the grace period and exits 0; nothing is lost and, with a sink far
    faster than the grace period, nothing is delivered twice."""
    sink.respond = slow(0.1)
    env = {"HOOKSTREAM_WORKER_CONCURRENCY": "20", "HOOKSTREAM_SHUTDOWN_GRACE": "10s"}
    victim = await roles.worker(valkey.url, **env)
    await roles.worker(valkey.url, **env)
    publishing = await _publish_in_background(ingress, ledger, sink)
    await sink.wait_for(60, timeout=30)
    victim.signal(signal.SIGTERM)
    assert await asyncio.to_thread(victim.wait_exit, 30) == 0
    await publishing
    assert ingress.http is not None
    await ledger.verify(sink, ingress.http, "worker SIGTERM", max_duplicates=0)


async def test_frozen_worker(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """One of two workers is frozen (SIGSTOP) for three visibility timeouts mid-load, then
    thawed (SIGCONT): the other reclaims its entries, the late settles change nothing, no
    message is dead-lettered, duplicates ≤ what was pending at the freeze."""
    sink.respond = slow(0.1)
    victim = await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    publishing = await _publish_in_background(ingress, ledger, sink)
    await sink.wait_for(60, timeout=30)
    in_flight = await ledger.mark_fault()
    victim.signal(signal.SIGSTOP)
    await asyncio.sleep(6)  # the fault's length: 3 x the 2 s visibility timeout
    victim.signal(signal.SIGCONT)
    await publishing
    assert ingress.http is not None
    verdict = await ledger.verify(
        sink, ingress.http, "worker SIGSTOP 6 s, SIGCONT", in_flight_at_freeze=in_flight
    )
    assert verdict.dead_lettered == 0
