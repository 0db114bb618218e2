"""`hookstream dev | ingress | worker | scheduler`: the composition root of the three roles.

Roles are imported lazily here, the one place that knows all of them; `workers` and
`scheduler` themselves import only from `broker`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import structlog
from aiohttp import web

from broker.health import add_health_routes
from broker.logs import configure_logging
from broker.metrics import export_role_metrics
from broker.queue.connection import Connection
from broker.queue.signing_keys import ensure_keys
from broker.redis_server import EmbeddedServer
from broker.settings import ConfigError, Settings, settings_from_env

log = structlog.get_logger()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hookstream", description=__doc__)
    parser.add_argument("role", choices=sorted(ROLES), help="which process to run")
    role = parser.parse_args(argv).role
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        sys.exit(f"hookstream: {exc}")
    if role == "dev":
        settings = settings.with_dev_defaults()
        if "HOOKSTREAM_HOST" not in os.environ:
            settings = replace(settings, host="127.0.0.1")
    configure_logging("console" if role == "dev" and "HOOKSTREAM_LOG_FORMAT" not in os.environ
                      else settings.log_format, settings.log_level)  # fmt: skip
    try:
        _run(ROLES[role](settings))
    except ConfigError as exc:
        sys.exit(f"hookstream: {exc}")


def _run(coroutine: Awaitable[None]) -> None:
    try:
        import uvloop

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutdown.requested")


@contextlib.asynccontextmanager
async def _connected(settings: Settings, url: str) -> AsyncIterator[Connection]:
    conn = Connection.open(settings, url)
    try:
        await conn.redis.ping()
        await conn.ensure_groups()
        await ensure_keys(conn.redis, settings)
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _serving(app: web.Application, host: str, port: int) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another port with HOOKSTREAM_PORT (or HOOKSTREAM_METRICS_PORT)"
        ) from None
    try:
        yield
    finally:
        await runner.cleanup()


def _require_redis_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise ConfigError("REDIS_URL must be set (only `hookstream dev` embeds a server)")
    return settings.redis_url


async def run_ingress(settings: Settings) -> None:
    from broker.http.app import build_app

    settings.require_tokens()
    async with _connected(settings, _require_redis_url(settings)) as conn, \
            _serving(build_app(conn), settings.host, settings.port):  # fmt: skip
        log.info("ingress.listening", host=settings.host, port=settings.port)
        await _until_signalled()


class _Loop(Protocol):
    """A background role's main object: `run()` until `stop()`."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


async def run_worker(settings: Settings) -> None:
    from workers.worker import Worker

    await _run_loop_role(settings, "worker", Worker)


async def run_scheduler(settings: Settings) -> None:
    from scheduler.loop import Scheduler
    from scheduler.settings import scheduler_settings_from_env

    scheduler_settings = scheduler_settings_from_env()
    await _run_loop_role(settings, "scheduler", lambda conn: Scheduler(conn, scheduler_settings))


async def _run_loop_role(
    settings: Settings, role: str, make: Callable[[Connection], _Loop]
) -> None:
    """A role without an API: its loop plus /metrics, /healthz, /readyz on the metrics port."""
    async with _connected(settings, _require_redis_url(settings)) as conn:
        loop = make(conn)
        app = web.Application()
        add_health_routes(app, role, lambda: _redis_ready(conn))
        async with _serving(app, settings.host, settings.metrics_port):
            task = asyncio.create_task(loop.run())
            await _until_signalled()
            loop.stop()
            await task


async def _redis_ready(conn: Connection) -> str | None:
    await conn.redis.ping()
    return None


async def run_dev(settings: Settings) -> None:
    """Ingress, worker and scheduler in one process, on an embedded server unless REDIS_URL
    is set."""
    from broker.http.app import build_app
    from scheduler.loop import Scheduler
    from scheduler.settings import scheduler_settings_from_env
    from workers.worker import Worker

    server = None
    if not settings.redis_url:
        server = EmbeddedServer(Path(settings.data_dir) / "redis").start()
    url = settings.redis_url or (server.url if server else "")
    try:
        async with _connected(settings, url) as conn, \
                _serving(build_app(conn), settings.host, settings.port):  # fmt: skip
            for role in ("worker", "scheduler"):  # the ingress app exported its own
                export_role_metrics(role)
            worker = Worker(conn)
            task = asyncio.create_task(worker.run())
            scheduler = Scheduler(conn, scheduler_settings_from_env())
            scheduler_task = asyncio.create_task(scheduler.run())
            await _print_banner(conn, settings, url)
            await _until_signalled()
            worker.stop()
            scheduler.stop()
            await asyncio.gather(task, scheduler_task)
    finally:
        if server:
            server.stop()


async def _print_banner(conn: Connection, settings: Settings, redis_url: str) -> None:
    from broker.queue.signing_keys import current_keys

    current, upcoming = await current_keys(conn.redis)
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"\nhookstream dev server ready\n"
        f"  QSTASH_URL={base}\n"
        f"  QSTASH_TOKEN={settings.tokens[0]}\n"
        f"  QSTASH_CURRENT_SIGNING_KEY={current}\n"
        f"  QSTASH_NEXT_SIGNING_KEY={upcoming}\n"
        f"  redis: {redis_url}\n",
        flush=True,
    )


ROLES: dict[str, Callable[[Settings], Awaitable[None]]] = {
    "dev": run_dev,
    "ingress": run_ingress,
    "worker": run_worker,
    "scheduler": run_scheduler,
}
