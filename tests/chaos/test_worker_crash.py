"""A worker killed with SIGKILL mid-delivery loses nothing; a frozen worker that wakes up
late cannot undo what another worker settled."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from broker.queue.keys import keys_for
from tests.support.api import PeakConcurrency, api, events_of, eventually
from tests.support.barriers import live_entries, nothing_due, pending_entries, wait_for_log
from tests.support.hookstream import Hookstream
from tests.support.procs import RoleProcess, role_env
from tests.support.sink import Sink

pytestmark = pytest.mark.chaos


@pytest.fixture
async def ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The API alone: deliveries happen in worker processes only."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def _all_settled(server: Hookstream) -> bool:
    """No message left waiting, pending or in flight."""
    redis = server.conn.redis
    for partition in server.conn.partitions:
        if await live_entries(redis, partition) or await redis.zcard(partition.delayed):
            return False
    return True


async def test_sigkill_mid_delivery_loses_nothing(
    ingress: Hookstream, sink: Sink, redis_url: str
) -> None:
    """200 messages, a worker killed with 50+ deliveries in flight: a second worker delivers
    every message; duplicates are at most the entries the dead worker left pending."""
    hold = asyncio.Event()

    async def held(_: web.Request, __: bytes) -> web.StreamResponse:
        await hold.wait()
        return web.Response(text="ok")

    sink.respond = held
    ids = [(await ingress.publish(sink.url(), str(i)))["messageId"] for i in range(200)]
    first = RoleProcess("workers", role_env(redis_url, HOOKSTREAM_WORKER_CONCURRENCY="100"))
    try:
        first.wait_ready()
        await sink.wait_for(50, timeout=15)
        first.signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    in_flight = await pending_entries(ingress)  # read by the dead worker, never settled
    assert in_flight >= 50
    hold.set()
    second = RoleProcess("workers", role_env(redis_url, HOOKSTREAM_WORKER_CONCURRENCY="100"))
    try:
        second.wait_ready()
        await eventually(lambda: _all_settled(ingress), timeout=30)
    finally:
        second.stop()
    delivered_ids = [r.headers["Upstash-Message-Id"] for r in sink.received]
    assert set(delivered_ids) == set(ids)
    assert len(delivered_ids) - len(set(delivered_ids)) <= in_flight
    for message_id in ids[:5]:
        assert (await events_of(ingress, message_id))[-1] == "DELIVERED"


async def test_frozen_worker_cannot_undo_another_settle(
    ingress: Hookstream, sink: Sink, redis_url: str, tmp_path: Path
) -> None:
    """Worker A is SIGSTOPped mid-delivery; B reclaims and delivers; A wakes to a failure, its
    late settle is refused ('gone') and changes nothing: no retry, no DLQ entry, one DELIVERED."""
    first_answer = asyncio.Event()
    calls = 0

    async def respond(_: web.Request, __: bytes) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:  # A's attempt: held, then a failure once A is frozen
            await first_answer.wait()
            return web.Response(status=500)
        return web.Response(text="ok")

    sink.respond = respond
    message_id = (await ingress.publish(sink.url(), "x", **{"Upstash-Retries": "3"}))["messageId"]
    frozen_log = tmp_path / "frozen-worker.log"
    frozen_env = role_env(redis_url, HOOKSTREAM_LOG_LEVEL="debug")
    frozen = RoleProcess("workers", frozen_env, log_path=frozen_log).wait_ready()
    rescuer: RoleProcess | None = None
    try:
        await sink.wait_for(1)
        frozen.signal(signal.SIGSTOP)
        rescuer = RoleProcess("workers", role_env(redis_url)).wait_ready()
        await sink.wait_for(2, timeout=30)  # B reclaimed after the visibility timeout

        async def delivered() -> bool:
            return "DELIVERED" in await events_of(ingress, message_id)

        await eventually(delivered)
        first_answer.set()
        frozen.signal(signal.SIGCONT)
        settled = await wait_for_log(
            frozen_log, "delivery.settled", timeout=30, message_id=message_id
        )
    finally:
        first_answer.set()
        frozen.stop()
        if rescuer:
            rescuer.stop()
    assert (settled["outcome"], settled["result"]) == ("RetryAt", "gone")
    states = await events_of(ingress, message_id)
    assert states.count("DELIVERED") == 1
    assert "RETRY" not in states[states.index("DELIVERED") :]
    assert "FAILED" not in states
    _, dlq = await api(ingress, "GET", "/v2/dlq")
    assert dlq["messages"] == []
    assert await nothing_due(ingress, message_id)
    assert len(sink.received) == 2


async def test_poison_message_is_dead_lettered(redis_url: str, sink: Sink) -> None:
    """A message reclaimed from dead workers more than HOOKSTREAM_MAX_RECLAIMS times goes to
    the DLQ without another delivery attempt."""
    server = await Hookstream(redis_url, with_worker=False, max_reclaims=0).start()
    try:
        message_id = (await server.publish(sink.url(), "x"))["messageId"]
        partition = keys_for(message_id)
        # A "worker" takes the entry and dies without a trace but its pending entry.
        await server.conn.redis.xreadgroup("workers", "ghost", {partition.ready: ">"}, count=1)
        await server.start_worker()

        async def dead_lettered() -> bool:
            return (await events_of(server, message_id))[-1:] == ["FAILED"]

        await eventually(dead_lettered)
        _, dlq = await api(server, "GET", "/v2/dlq")
        assert [m["error"] for m in dlq["messages"]] == [
            "poison: its deliveries keep crashing workers"
        ]
        assert sink.received == []
    finally:
        await server.stop()


async def test_queue_order_survives_a_killed_worker(
    ingress: Hookstream, sink: Sink, redis_url: str
) -> None:
    """200 messages through a parallelism-1 queue served by two worker processes, one killed
    with SIGKILL and restarted midway: first arrivals are in order and all arrive."""
    responder = PeakConcurrency(hold=0.002)
    sink.respond = responder
    for index in range(200):
        await api(ingress, "POST", f"/v2/enqueue/ordered/{sink.url()}", data=str(index))
    workers = [RoleProcess("workers", role_env(redis_url)).wait_ready() for _ in range(2)]
    try:
        await sink.wait_for(60, timeout=30)
        workers[0].signal(signal.SIGKILL)
        workers[0].process.wait(timeout=10)
        workers[0] = RoleProcess("workers", role_env(redis_url)).wait_ready()

        async def complete() -> bool:
            return len({int(r.body) for r in sink.received}) == 200

        await eventually(complete, timeout=60)
    finally:
        for worker in workers:
            worker.stop()
    first_arrivals = list(dict.fromkeys(int(r.body) for r in sink.received))
    assert first_arrivals == list(range(200))
    assert responder.peak == 1
