"""An in-process hookstream (ingress + worker, optionally a scheduler) on a free port, for
integration tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from broker.http.routes.schedules import SECOND_FIELD_CRONS
from broker.queue.connection import Connection
from broker.redis_server import free_port
from broker.settings import Settings
from hookstream.compose import Composition
from scheduler.loop import Scheduler
from scheduler.settings import SchedulerSettings
from workers.worker import Worker

TEST_TOKEN = "test-token-0123456789"


class Hookstream:
    """The roles `hookstream dev` runs (ingress and, optionally, worker and scheduler), wired
    by the same composition root, with test settings and an HTTP client."""

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
        # Dev defaults (credentials, and loopback sinks allowed) unless `dev=False` is asked.
        dev = bool(overrides.pop("dev", True))
        self.settings = replace(replace(base, **overrides).with_dev_defaults(), dev=dev)
        self.redis_url = redis_url
        roles = ["ingress", *(["worker"] if with_worker else [])]
        roles += ["scheduler"] if with_scheduler else []
        self.composition = Composition(
            self.settings,
            redis_url,
            roles,
            scheduler_settings=SchedulerSettings(lease_ms=1000, poll_ms=100),
            app_hook=lambda app: app.__setitem__(SECOND_FIELD_CRONS, second_field_crons),
        )
        self.http: aiohttp.ClientSession | None = None

    @property
    def conn(self) -> Connection:
        return self.composition.conn

    @property
    def worker(self) -> Worker | None:
        return self.composition.worker

    @property
    def scheduler(self) -> Scheduler | None:
        return self.composition.scheduler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TEST_TOKEN}"}

    async def start(self) -> Hookstream:
        await self.composition.start()
        self.http = aiohttp.ClientSession(self.url, headers=self.auth)
        return self

    async def start_worker(self) -> Worker:
        return self.composition.start_worker()

    async def stop_worker(self) -> None:
        await self.composition.stop_worker()

    def start_scheduler(self, lease_ms: int = 1000) -> Scheduler:
        """A scheduler replica in this process, sharing its connection."""
        settings = SchedulerSettings(lease_ms=lease_ms, poll_ms=100)
        return self.composition.start_scheduler(settings)

    async def stop_scheduler(self) -> None:
        await self.composition.stop_scheduler()

    async def stop(self) -> None:
        if self.http:
            await self.http.close()
        await self.composition.stop()

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
