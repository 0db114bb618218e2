"""One process's roles on one Redis connection: what `hookstream dev` runs (all three), what
each role's command runs (one), and what the in-process tests start, so the tests exercise the
wiring users run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

import structlog
from aiohttp import web

from broker.errors import ConfigError
from broker.health import Readiness, add_health_routes
from broker.http.app import build_app
from broker.http.server import Listener
from broker.metrics import export_role_metrics
from broker.queue.connection import Connection
from broker.queue.durability import read_durability, readiness
from broker.queue.layout import ensure_layout
from broker.queue.signing_keys import ensure_keys
from broker.settings import Settings
from scheduler.loop import Scheduler
from scheduler.settings import SchedulerSettings, scheduler_settings_from_env
from workers.worker import Worker

ROLES = ("ingress", "worker", "scheduler")
AppHook = Callable[[web.Application], None]
log = structlog.get_logger()


class Composition:
    """The roles of one process. The ingress serves the API (and the health and metrics
    endpoints) on `settings.port`; without it, the health endpoints are served on
    `settings.metrics_port`."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str | None,
        roles: Collection[str],
        *,
        scheduler_settings: SchedulerSettings | None = None,
        app_hook: AppHook | None = None,
    ) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ConfigError(f"unknown roles: {sorted(unknown)}")
        self.settings = settings
        self.roles = tuple(role for role in ROLES if role in roles)
        self.scheduler_settings = scheduler_settings or scheduler_settings_from_env()
        self.redis_url = redis_url
        self._conn: Connection | None = None
        self.worker: Worker | None = None
        self.scheduler: Scheduler | None = None
        self._app_hook = app_hook
        self._listener: Listener | None = None
        self._tasks: dict[object, asyncio.Task[None]] = {}

    @property
    def conn(self) -> Connection:
        """The connection, once `start` has opened it."""
        assert self._conn is not None, "Composition.start() opens the connection"
        return self._conn

    async def start(self) -> Composition:
        """Connect (finding out whether Redis is a cluster), check the partition layout,
        prepare Redis, serve, and start the loops of the roles asked for."""
        self._conn = await Connection.connect(self.settings, self.redis_url)
        try:
            await self.conn.ping_all()
            await self._log_durability()
            await ensure_layout(self.conn)
            await self.conn.ensure_groups()
            await ensure_keys(self.conn)
        except BaseException:
            await self.conn.close()  # a refused start leaves no connection behind
            self._conn = None
            raise
        await self._serve()
        if "worker" in self.roles:
            self.start_worker()
        if "scheduler" in self.roles:
            self.start_scheduler()
        return self

    async def stop(self) -> None:
        """Stop the loops (each drains), stop serving, close the connection."""
        await self.stop_scheduler()
        await self.stop_worker()
        if self._listener:
            await self._listener.stop()
        if self._conn:
            await self._conn.close()

    def start_worker(self) -> Worker:
        self.worker = Worker(self.conn)
        self._tasks[self.worker] = asyncio.create_task(self.worker.run())
        return self.worker

    async def stop_worker(self) -> None:
        if self.worker:
            self.worker.stop()
            await self._tasks.pop(self.worker)
            self.worker = None

    def start_scheduler(self, settings: SchedulerSettings | None = None) -> Scheduler:
        self.scheduler = Scheduler(self.conn, settings or self.scheduler_settings)
        self._tasks[self.scheduler] = asyncio.create_task(self.scheduler.run())
        return self.scheduler

    async def stop_scheduler(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
            await self._tasks.pop(self.scheduler)
            self.scheduler = None

    async def _serve(self) -> None:
        if "ingress" in self.roles:
            app = build_app(self.conn)
            if self._app_hook:
                self._app_hook(app)
            port = self.settings.port
        else:
            app = web.Application()
            add_health_routes(app, self.roles[0], self._redis_ready)
            port = self.settings.metrics_port
        for role in self.roles:  # one /metrics shows every role this process runs
            export_role_metrics(role)
        self._listener = await _listen(Listener(app, self.settings, self.settings.host, port))

    async def _redis_ready(self) -> Readiness:
        return await readiness(self.conn, self.settings.allow_eviction)

    async def _log_durability(self) -> None:
        """One line per primary saying how Redis persists and what a crash of it may lose, so
        the risk is on record where each role starts (docs/operations.md)."""
        for node in self.conn.primaries():
            durability = await read_durability(node)
            fields = {
                "server": node.name,
                "persistence": durability.mode,
                "may_lose": durability.may_lose,
                "maxmemory_policy": durability.eviction_policy or "unknown",
            }
            if durability.evicts:
                accepted = self.settings.allow_eviction
                log.warning("redis.evicts", accepted=accepted, **fields)
            else:
                log.info("redis.persistence", **fields)


async def _listen(listener: Listener) -> Listener:
    try:
        await listener.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {listener.host}:{listener.port} ({exc.strerror}); "
            "choose another port with HOOKSTREAM_PORT (or HOOKSTREAM_METRICS_PORT)"
        ) from None
    return listener
