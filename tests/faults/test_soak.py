"""A soak: steady publishing for HOOKSTREAM_SOAK_SECONDS (100 s by default) while faults of
every kind take turns: a worker killed and replaced, a worker's and the ingress's Redis link
blackholed, Redis killed and restarted, a worker frozen, latency, replies reset midway. The
system converges and the ledger holds."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from tests.support.faultproxy import FaultProxy
from tests.support.hookstream import Hookstream
from tests.support.ledger import Ledger
from tests.support.procs import RoleProcess, Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink

SOAK_SECONDS = float(os.environ.get("HOOKSTREAM_SOAK_SECONDS", "100"))
CONCURRENCY = 20
WORKER = {"HOOKSTREAM_WORKER_CONCURRENCY": str(CONCURRENCY)}


async def _flaky(_: web.Request, __: bytes) -> web.StreamResponse:
    """One answer in ten is a 500: retries keep flowing through every fault."""
    await asyncio.sleep(0.02)
    return web.Response(status=500 if random.random() < 0.1 else 200)


class Soak:
    """The system under test and the faults that take turns on it."""

    def __init__(self, roles: Roles, valkey: RedisProcess, ledger: Ledger) -> None:
        self.roles, self.valkey, self.ledger = roles, valkey, ledger
        self.worker_proxy: FaultProxy | None = None
        self.ingress_proxy: FaultProxy | None = None
        self.proxied: RoleProcess | None = None  # worker A, through worker_proxy
        self.direct: RoleProcess | None = None  # worker B, straight to Redis
        self.faults: list[str] = []
        self.redis_kills = 0

    async def kill_worker(self) -> None:
        assert self.direct is not None
        self.direct.signal(signal.SIGKILL)
        await asyncio.to_thread(self.direct.wait_exit)
        self.direct = await self.roles.worker(self.valkey.url, **WORKER)

    async def blackhole_worker(self) -> None:
        assert self.worker_proxy is not None
        self.worker_proxy.blackhole()
        await asyncio.sleep(3)
        self.worker_proxy.heal()

    async def blackhole_ingress(self) -> None:
        assert self.ingress_proxy is not None
        self.ingress_proxy.blackhole()
        await asyncio.sleep(3)
        self.ingress_proxy.heal()

    async def kill_redis(self) -> None:
        self.redis_kills += 1
        self.valkey.kill()
        await asyncio.sleep(2)
        await asyncio.to_thread(self.valkey.restart)

    async def freeze_worker(self) -> None:
        assert self.proxied is not None
        self.proxied.signal(signal.SIGSTOP)
        await asyncio.sleep(4)
        self.proxied.signal(signal.SIGCONT)

    async def latency(self) -> None:
        assert self.worker_proxy is not None
        assert self.ingress_proxy is not None
        for proxy in (self.worker_proxy, self.ingress_proxy):
            proxy.latency(0.1)
        await asyncio.sleep(3)
        for proxy in (self.worker_proxy, self.ingress_proxy):
            proxy.heal()

    async def resets(self) -> None:
        assert self.worker_proxy is not None
        assert self.ingress_proxy is not None
        for _ in range(5):
            self.worker_proxy.reset_mid_reply()
            self.ingress_proxy.reset_mid_reply()
            await asyncio.sleep(0.3)

    def turns(self) -> list[Callable[[], Awaitable[None]]]:
        return [
            self.kill_worker,
            self.blackhole_worker,
            self.kill_redis,
            self.freeze_worker,
            self.blackhole_ingress,
            self.latency,
            self.resets,
        ]

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        turn = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(4)  # load between faults
            fault = self.turns()[turn % len(self.turns())]
            await self.ledger.mark_fault()
            self.faults.append(fault.__name__)
            await fault()
            turn += 1


@pytest.mark.timeout(SOAK_SECONDS + 180)
async def test_soak_of_mixed_faults(
    ingress: Hookstream,
    ledger: Ledger,
    sink: Sink,
    roles: Roles,
    valkey: RedisProcess,
    proxies: Callable[[], Awaitable[FaultProxy]],
) -> None:
    """Two workers (one through a fault proxy) and an ingress through another, a sink that
    fails one answer in ten, steady publishing while seven kinds of fault take turns: after
    the drain nothing acknowledged is lost or stranded, and duplicates stay within what was
    in flight at the faults (plus every delivery that was in flight when Redis died)."""
    assert ingress.http is not None
    sink.respond = _flaky
    soak = Soak(roles, valkey, ledger)
    soak.worker_proxy, soak.ingress_proxy = await proxies(), await proxies()
    soak.proxied = await roles.worker(soak.worker_proxy.url(), **WORKER)
    soak.direct = await roles.worker(valkey.url, **WORKER)
    server = await Hookstream(soak.ingress_proxy.url(), with_worker=False).start()
    try:
        assert server.http is not None
        stop = asyncio.Event()
        path = f"/v2/publish/{sink.url()}"
        publishing = asyncio.create_task(
            ledger.publish_until(server.http, path, stop, limit=3000, pause=0.1)
        )
        await soak.run(SOAK_SECONDS)
        stop.set()
        await publishing
    finally:
        await server.stop()
    await ledger.verify(
        sink,
        ingress.http,
        f"soak {SOAK_SECONDS:.0f} s: {len(soak.faults)} mixed faults",
        max_duplicates=ledger.in_flight_at_faults + 2 * CONCURRENCY * soak.redis_kills,
        drain_timeout=90,
        faults=soak.faults,
    )
