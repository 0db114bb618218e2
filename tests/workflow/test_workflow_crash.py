"""A workflow run survives its worker: SIGKILLed during a sleep, the run finishes on the next
worker, every step body once."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import pytest

from tests.support.api import eventually
from tests.support.barriers import pending_entries
from tests.support.hookstream import Hookstream
from tests.support.procs import RoleProcess, role_env
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in

pytestmark = pytest.mark.chaos


@pytest.fixture(name="hookstream")
async def _ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The API alone: deliveries happen in worker processes only."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def _sleeping(hookstream: Hookstream, app: App, run_id: str) -> bool:
    """The sleep step is stored, delayed, and no delivery is in flight or unsettled."""
    stats = await app.stats(run_id)
    if not stats or stats["calls"] < 2:
        return False
    delayed = [await hookstream.conn.redis.zcard(p.delayed) for p in hookstream.conn.partitions]
    return sum(delayed) == 1 and await pending_entries(hookstream) == 0


async def test_sigkill_during_a_sleep_finishes_the_run_once(
    hookstream: Hookstream, app: App, redis_url: str
) -> None:
    """The worker dies while the run sleeps; a new worker wakes it: RUN_SUCCESS, and each
    step body ran exactly once."""
    env = role_env(redis_url)
    first = RoleProcess("workers", env)
    try:
        first.wait_ready()
        run_id = await app.trigger("/sleep")
        await eventually(lambda: _sleeping(hookstream, app, run_id), RUN_TIMEOUT)
        first.signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    second = RoleProcess("workers", role_env(redis_url))
    try:
        second.wait_ready()
        await run_in(hookstream, run_id, "RUN_SUCCESS")
    finally:
        second.stop()
    assert (await app.stats(run_id))["bodies"] == {"before": 1, "after": 1, "last": 1}
