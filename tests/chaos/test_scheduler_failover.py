"""Two real scheduler processes; the active one is killed with SIGKILL mid-run.

Every tick must still be published exactly once, on its second and never early, and the
standby must take over. How long the takeover takes is measured by `make bench`, not here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from broker.queue import keys
from broker.redis_server import free_port
from tests.support.api import api, eventually
from tests.support.barriers import events
from tests.support.hookstream import Hookstream
from tests.support.ticks import tick_violations

pytestmark = pytest.mark.chaos
ROOT = Path(__file__).resolve().parents[2]
LEASE_MS = 1000
SCHEDULES = 20  # every-second schedules: 20 ticks a second for the active replica


class SchedulerProcess:
    """`python -m scheduler` against the test Redis, with its own metrics port."""

    def __init__(self, redis_url: str) -> None:
        self.port = free_port()
        env = os.environ | {
            "REDIS_URL": redis_url,
            "HOOKSTREAM_HOST": "127.0.0.1",
            "HOOKSTREAM_METRICS_PORT": str(self.port),
            "HOOKSTREAM_PARTITIONS": "2",
            "HOOKSTREAM_SCHEDULER_LEASE": f"{LEASE_MS}ms",
            "HOOKSTREAM_LOG_LEVEL": "warning",
        }
        self.process = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=ROOT, env=env)

    def is_ready(self) -> bool:
        assert self.process.poll() is None, f"scheduler exited with {self.process.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def schedulers(redis_url: str) -> Iterator[list[SchedulerProcess]]:
    """Two scheduler replicas, both ready."""
    replicas = [SchedulerProcess(redis_url) for _ in range(2)]
    try:
        deadline = time.monotonic() + 20
        while not all(r.is_ready() for r in replicas):
            assert time.monotonic() < deadline, "schedulers did not become ready"
            time.sleep(0.05)
        yield replicas
    finally:
        for replica in replicas:
            replica.end()


@pytest.fixture
async def ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The API in this process (no worker: produced messages are counted, not delivered)."""
    server = await Hookstream(redis_url, with_worker=False, second_field_crons=True).start()
    yield server
    await server.stop()


async def _created(ingress: Hookstream) -> dict[str, list[tuple[str, int]]]:
    """Per schedule: (message id, Redis time of CREATED) of every message, oldest first."""
    created: dict[str, list[tuple[str, int]]] = {}
    for event in await events(ingress, state="CREATED"):
        created.setdefault(event["scheduleId"], []).append((event["messageId"], event["time"]))
    return created


async def _active(ingress: Hookstream, replicas: list[SchedulerProcess]) -> SchedulerProcess:
    """The replica holding the lease (its token is host-pid-random)."""
    token = (await ingress.conn.redis.get(keys.SCHEDULER_LEASE)).decode()
    pid = int(token.rsplit("-", 2)[1])
    return next(r for r in replicas if r.process.pid == pid)


async def _wait_for_ticks(ingress: Hookstream, each: int) -> dict[str, list[tuple[str, int]]]:
    """Wait until every schedule has produced at least `each` messages."""

    async def enough() -> bool:
        created = await _created(ingress)
        return len(created) == SCHEDULES and min(map(len, created.values())) >= each

    await eventually(enough, timeout=40)
    return await _created(ingress)


async def test_killed_active_scheduler_loses_and_duplicates_nothing(
    ingress: Hookstream, schedulers: list[SchedulerProcess]
) -> None:
    """SIGKILL the lease holder while every-second schedules run: the standby takes the lease
    and keeps firing, each tick has exactly one message, ticks are skipped only after a late
    fire (missed ticks collapse), no claim is left unpublished, and the survivor exits
    cleanly on SIGTERM."""
    for n in range(SCHEDULES):
        status, _ = await api(
            ingress,
            "POST",
            f"/v2/schedules/https://example.com/tick/{n}",
            headers={"Upstash-Cron": "* * * * * *"},
        )
        assert status == 200
    before = await _wait_for_ticks(ingress, 3)

    victim = await _active(ingress, schedulers)
    victim.process.send_signal(signal.SIGKILL)
    await _wait_for_ticks(ingress, max(map(len, before.values())) + 4)
    survivor = next(r for r in schedulers if r is not victim)
    assert await _active(ingress, schedulers) is survivor
    survivor.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(survivor.process.wait, 10) == 0

    created = await _created(ingress)
    assert len(created) == SCHEDULES
    assert {schedule: tick_violations(ticks) for schedule, ticks in created.items()} == {
        schedule: [] for schedule in created
    }
    assert await ingress.conn.redis.hlen(keys.SCHEDULE_CLAIMS) == 0  # nothing left unpublished
