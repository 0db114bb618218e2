"""`hookstream dev | ingress | worker | scheduler`: run one role, or all three with `dev`.
`hookstream partitions` prints each partition's tag (what redis-cli needs to inspect it)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

import structlog

from broker import runtime
from broker.errors import ConfigError
from broker.logs import configure_logging
from broker.queue.keys import partition_keys
from broker.queue.signing_keys import current_keys
from broker.redis_server import EmbeddedServer
from broker.settings import Settings, settings_from_env
from hookstream.compose import ROLES, Composition

log = structlog.get_logger()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hookstream", description=__doc__)
    roles = sorted({*ROLES, "dev", "partitions"})
    parser.add_argument("role", choices=roles, help="which process to run")
    role = parser.parse_args(argv).role
    try:
        settings = settings_from_env(dev=role == "dev")
        if role == "partitions":
            print_partitions(settings)
            return
        configure_logging(settings.log_format, settings.log_level)
        runtime.run(run_dev(settings) if role == "dev" else run_role(settings, role))
    except ConfigError as exc:
        sys.exit(f"hookstream: {exc}")


def print_partitions(settings: Settings) -> None:
    """One line per partition of HOOKSTREAM_PARTITIONS: number and ready stream."""
    for p in range(settings.partitions):
        print(p, partition_keys(p, settings.partitions).ready)


async def run_role(settings: Settings, role: str) -> None:
    """One role against REDIS_URL, until SIGTERM or SIGINT."""
    if not settings.redis_url and settings.redis_mode != "sentinel":
        raise ConfigError("REDIS_URL must be set (only `hookstream dev` embeds a server)")
    if role == "ingress":
        settings.require_tokens()
    await _serve(Composition(settings, settings.redis_url, [role]))


async def run_dev(settings: Settings) -> None:
    """Ingress, worker and scheduler in one process, on an embedded server unless REDIS_URL
    is set."""
    server = None
    if not settings.redis_url and settings.redis_mode != "sentinel":
        server = EmbeddedServer(Path(settings.data_dir) / "redis").start()
    url = settings.redis_url or (server.url if server else "")
    try:
        await _serve(Composition(settings, url, ROLES), banner_redis_url=url)
    finally:
        if server:
            server.stop()


async def _serve(composition: Composition, banner_redis_url: str | None = None) -> None:
    try:
        await composition.start()
        log.info("hookstream.started", roles=list(composition.roles))
        if banner_redis_url is not None:
            await _print_banner(composition, banner_redis_url)
        await _until_signalled()
    finally:
        await composition.stop()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutdown.requested")


async def _print_banner(composition: Composition, redis_url: str) -> None:
    settings = composition.settings
    current, upcoming = await current_keys(composition.conn)
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
