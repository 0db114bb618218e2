"""Two real scheduler processes; the active one is killed with SIGKILL mid-run.

Every tick must still be published exactly once, and the standby must take over within the
lease time plus one poll. The test prints the measured failover gap and tick lateness
(`pytest tests/chaos/test_scheduler_failover.py -s`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.queue import keys
from broker.queue.keys import tick_of
from broker.queue.schedules import Schedules
from broker.redis_server import free_port
from scheduler.settings import SchedulerSettings
from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.chaos
ROOT = Path(__file__).resolve().parents[2]
LEASE_MS = 1000
POLL_MS = SchedulerSettings().poll_ms
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
    _, body = await api(
        ingress,
        "GET",
        "/v2/events",
        params={"state": "CREATED", "order": "earliestFirst", "count": "1000"},
    )
    created: dict[str, list[tuple[str, int]]] = {}
    for event in body["events"]:
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

    await eventually(enough, timeout=15)
    return await _created(ingress)


def _report(created: dict[str, list[tuple[str, int]]], killed_at: int) -> dict[str, Any]:
    """Failover gap (kill → first publish by the survivor) and the lateness of the other
    ticks (publish time - cron time), over all schedules."""
    first_after = min(at for ticks in created.values() for _, at in ticks if at > killed_at)
    late = sorted(
        at - tick_of(message_id)
        for ticks in created.values()
        for message_id, at in ticks
        if not killed_at < at <= first_after + 1000
    )
    return {
        "failover_gap_ms": first_after - killed_at,
        "lateness_ms": {
            "samples": len(late),
            "median": statistics.median(late),
            "p95": late[int(len(late) * 0.95) - 1],
            "p99": late[int(len(late) * 0.99) - 1],
            "max": late[-1],
        },
    }


def _assert_exactly_once(ticks: list[tuple[str, int]]) -> None:
    """One message per tick, on whole seconds, never early; missed ticks collapse once."""
    times = [tick_of(message_id) for message_id, _ in ticks]
    assert len({m for m, _ in ticks}) == len(ticks)
    assert len(set(times)) == len(times)
    assert all(t % 1000 == 0 and at >= t for t, (_, at) in zip(times, ticks, strict=True))
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert sum(step != 1000 for step in steps) <= 1


async def test_killed_active_scheduler_loses_and_duplicates_nothing(
    ingress: Hookstream, schedulers: list[SchedulerProcess]
) -> None:
    """SIGKILL the lease holder while every-second schedules run: the standby takes over
    within lease + poll, each tick has exactly one message, missed ticks collapse into one
    late fire, and the survivor exits cleanly on SIGTERM."""
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
    killed_at = await Schedules(ingress.conn).now_ms()
    victim.process.send_signal(signal.SIGKILL)
    await _wait_for_ticks(ingress, max(map(len, before.values())) + 4)
    survivor = next(r for r in schedulers if r is not victim)
    assert await _active(ingress, schedulers) is survivor
    survivor.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(survivor.process.wait, 10) == 0

    created = await _created(ingress)
    for ticks in created.values():
        _assert_exactly_once(ticks)
    assert await ingress.conn.redis.hlen(keys.SCHEDULE_CLAIMS) == 0  # nothing left unpublished
    report = _report(created, killed_at)
    print(f"\nscheduler failover: {report}")
    assert report["failover_gap_ms"] < LEASE_MS + POLL_MS + 2000
