"""An in-process hookstream (ingress + worker, optionally a scheduler) on a free port, for
integration tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from broker.http.app import build_app
from broker.http.routes.schedules import SECOND_FIELD_CRONS
from broker.queue.connection import Connection
from broker.queue.signing_keys import ensure_keys
from broker.redis_server import free_port
from broker.settings import Settings
from scheduler.loop import Scheduler
from scheduler.settings import SchedulerSettings
from workers.worker import Worker

TEST_TOKEN = "test-token-0123456789"


class Hookstream:
    """Ingress and (optionally) a worker sharing one connection, like `hookstream dev`."""

    def __init__(
        self,
        redis_url: str,
        with_worker: bool = True,
        *,
        with_scheduler: bool = False,
        second_field_crons: bool = False,
        **overrides: Any,
    ) -> None:
        """`second_field_crons` lets the API take test-only crons with seconds (6 fields)."""
        base = Settings(
            tokens=(TEST_TOKEN,),
            host="127.0.0.1",
            port=free_port(),
            partitions=2,
            worker_concurrency=16,
            visibility_timeout_ms=2000,
            retry_time_scale=0.001,
            promote_interval_ms=10,
        )
        self.settings = replace(base, **overrides).with_dev_defaults()
        self.redis_url = redis_url
        self.with_worker = with_worker
        self.with_scheduler = with_scheduler
        self.second_field_crons = second_field_crons
        self.scheduler: Scheduler | None = None
        self._scheduler_task: asyncio.Task[None] | None = None
        self.conn = Connection.open(self.settings, redis_url)
        self.worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TEST_TOKEN}"}

    async def start(self) -> Hookstream:
        await self.conn.ensure_groups()
        await ensure_keys(self.conn.redis, self.settings)
        app = build_app(self.conn)
        app[SECOND_FIELD_CRONS] = self.second_field_crons
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.settings.port).start()
        if self.with_worker:
            await self.start_worker()
        if self.with_scheduler:
            self.start_scheduler()
        self.http = aiohttp.ClientSession(self.url, headers=self.auth)
        return self

    async def start_worker(self) -> Worker:
        self.worker = Worker(self.conn)
        self._worker_task = asyncio.create_task(self.worker.run())
        return self.worker

    async def stop_worker(self) -> None:
        if self.worker and self._worker_task:
            self.worker.stop()
            await self._worker_task
            self.worker = None

    def start_scheduler(self, lease_ms: int = 1000) -> Scheduler:
        """A scheduler replica in this process, sharing its connection."""
        self.scheduler = Scheduler(self.conn, SchedulerSettings(lease_ms=lease_ms, poll_ms=100))
        self._scheduler_task = asyncio.create_task(self.scheduler.run())
        return self.scheduler

    async def stop_scheduler(self) -> None:
        if self.scheduler and self._scheduler_task:
            self.scheduler.stop()
            await self._scheduler_task
            self.scheduler = None

    async def stop(self) -> None:
        await self.stop_scheduler()
        await self.stop_worker()
        if self.http:
            await self.http.close()
        if self._runner:
            await self._runner.cleanup()
        await self.conn.close()

    async def publish(
        self, destination: str, body: bytes | str = b"", **headers: str
    ) -> dict[str, Any]:
        """POST /v2/publish/<destination>; asserts success and returns the JSON answer."""
        assert self.http is not None
        names = {k.replace("_", "-"): v for k, v in headers.items()}
        async with self.http.post(f"/v2/publish/{destination}", data=body, headers=names) as resp:
            payload = await resp.json()
            assert resp.status in (200, 201, 202), payload
            return payload  # type: ignore[no-any-return]
