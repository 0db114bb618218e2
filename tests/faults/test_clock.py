"""The wall clock of one role's host steps mid-run (SIGUSR1 to a shimmed `time.time`):
due times come from Redis TIME, so no retry and no schedule tick moves with it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.barriers import events
from tests.support.clock import clock_step_env
from tests.support.hookstream import Hookstream
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink
from tests.support.ticks import tick_violations

RETRY_DELAY_MS = 2000


@pytest.mark.parametrize("step_s", [-3600.0, 3600.0], ids=["back-1h", "ahead-1h"])
async def test_worker_clock_step_moves_no_retry(
    ingress: Hookstream,
    ledger: Ledger,
    sink: Sink,
    roles: Roles,
    valkey: RedisProcess,
    tmp_path: Path,
    step_s: float,
) -> None:
    """A worker whose clock jumps an hour back (or ahead) schedules each retry 2 s after
    the failure on Redis's clock, as the retry delay says: not an hour early (at once) or
    an hour late."""
    assert ingress.http is not None
    seen: set[str] = set()

    async def fail_first(request: web.Request, _: bytes) -> web.StreamResponse:
        message_id = request.headers["Upstash-Message-Id"]
        first = message_id not in seen
        seen.add(message_id)
        return web.Response(status=500 if first else 200)

    sink.respond = fail_first
    env = clock_step_env(tmp_path / "shim", step_s)
    worker = await roles.worker(valkey.url, HOOKSTREAM_RETRY_TIME_SCALE="1", **env)
    worker.signal(signal.SIGUSR1)  # the step: before any delivery, after start-up
    headers = {"Upstash-Retry-Delay": str(RETRY_DELAY_MS), "Upstash-Retries": "1"}
    path = f"/v2/publish/{sink.url()}"
    await ledger.publish_all(ingress.http, path, [f"c-{i}" for i in range(5)], headers=headers)
    await ledger.verify(sink, ingress.http, f"worker clock step {step_s:+.0f} s", max_duplicates=0)
    retries = await events(ingress, state="RETRY")
    assert len(retries) == 5
    # Both times are Redis's: the due time the worker counted from TIME, and the RETRY
    # event's own time, a little later (the settle that stored it). The step would show as
    # an hour either way; up to a second of settle lag is allowed for a loaded machine.
    gaps = [e["nextDeliveryTime"] - e["time"] for e in retries]
    assert all(RETRY_DELAY_MS - 1000 <= gap <= RETRY_DELAY_MS for gap in gaps), gaps


async def test_scheduler_clock_step_moves_no_tick(
    ingress: Hookstream,
    ledger: Ledger,
    sink: Sink,
    roles: Roles,
    valkey: RedisProcess,
    tmp_path: Path,
) -> None:
    """An every-second schedule; the scheduler's clock jumps 90 s ahead, then 3 minutes
    back: each tick is published once, on its second, none early or skipped."""
    assert ingress.http is not None
    env = clock_step_env(tmp_path / "shim", 90.0, -180.0)
    scheduler = await roles.scheduler(valkey.url, **env)
    await roles.worker(valkey.url)
    async with ingress.http.post(
        f"/v2/schedules/{sink.url()}", data="tick", headers={"Upstash-Cron": "* * * * * *"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        schedule_id = (await resp.json())["scheduleId"]
    await sink.wait_for(2, timeout=20)
    scheduler.signal(signal.SIGUSR1)  # 90 s ahead
    await sink.wait_for(4, timeout=20)
    scheduler.signal(signal.SIGUSR1)  # 90 s behind the true time
    await sink.wait_for(6, timeout=20)
    async with ingress.http.delete(f"/v2/schedules/{schedule_id}") as resp:
        assert resp.status == 200
    created = [(e["messageId"], e["time"]) for e in await events(ingress, state="CREATED")]
    assert tick_violations(created) == []
    ledger.attempted.add("tick")
    for message_id, _ in created:
        ledger.acknowledge("tick", message_id)
    await ledger.verify(
        sink, ingress.http, "scheduler clock step +90 s, then -180 s", max_duplicates=0
    )
