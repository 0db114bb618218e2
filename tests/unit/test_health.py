"""/readyz answers within its deadline, whatever the check does meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from broker import health
from broker.health import Readiness, add_health_routes


async def _readyz(check: health.ReadinessCheck) -> tuple[int, dict[str, str]]:
    app = web.Application()
    add_health_routes(app, "ingress", check)
    async with TestClient(TestServer(app)) as client, client.get("/readyz") as resp:
        return resp.status, await resp.json()


async def test_a_check_that_ignores_cancellation_is_answered_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "READINESS_DEADLINE_S", 0.05)
    released = asyncio.Event()

    async def stubborn() -> Readiness:
        # Like redis-py's cluster client: a cancelled read is caught and the work goes on.
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await released.wait()
        return Readiness()

    status, body = await asyncio.wait_for(_readyz(stubborn), timeout=10)
    released.set()
    assert (status, body["reason"]) == (503, health.UNREACHABLE)


async def test_a_prompt_check_is_answered_with_its_verdict() -> None:
    async def ready() -> Readiness:
        return Readiness(persistence="aof-everysec")

    assert await _readyz(ready) == (200, {"status": "ready", "persistence": "aof-everysec"})
