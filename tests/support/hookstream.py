"""An in-process hookstream (ingress + worker) on a free port, for integration tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from broker.http.app import build_app
from broker.queue.connection import Connection
from broker.queue.signing_keys import ensure_keys
from broker.redis_server import free_port
from broker.settings import Settings
from workers.worker import Worker

TEST_TOKEN = "test-token-0123456789"


class Hookstream:
    """Ingress and (optionally) a worker sharing one connection, like `hookstream dev`."""

    def __init__(self, redis_url: str, with_worker: bool = True, **overrides: Any) -> None:
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
        self._runner = web.AppRunner(build_app(self.conn), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.settings.port).start()
        if self.with_worker:
            await self.start_worker()
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

    async def stop(self) -> None:
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
