"""Redis out of reach: the API answers 503 with Retry-After, logs one line, and recovers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from broker.http.app import build_app
from broker.queue.connection import Connection
from broker.redis_server import EmbeddedServer, free_port
from broker.settings import Settings
from tests.support.hookstream import TEST_TOKEN, Hookstream

pytestmark = pytest.mark.integration

CALLS = [
    ("GET", "/v2/messages/msg_0_01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/v2/publish/https://example.com/hook"),
    ("GET", "/v2/events"),
    ("GET", "/v2/dlq"),
    ("GET", "/v2/queues"),
    ("GET", "/v2/schedules"),
]


@pytest.fixture(name="unreachable")
async def _unreachable() -> AsyncIterator[aiohttp.ClientSession]:
    """An ingress whose Redis URL points at a port nothing listens on."""
    settings = Settings(tokens=(TEST_TOKEN,), partitions=2)
    conn = Connection.open(settings, f"redis://127.0.0.1:{free_port()}")
    runner = web.AppRunner(build_app(conn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as session:
        yield session
    await runner.cleanup()
    await conn.close()


@pytest.mark.parametrize(("method", "path"), CALLS)
async def test_unreachable_redis_is_503_with_retry_after(
    unreachable: aiohttp.ClientSession, method: str, path: str
) -> None:
    """Every kind of call (read, publish, paged listing) answers 503 + Retry-After + JSON error,
    with one structured log line and no traceback."""
    with capture_logs() as logs:
        async with unreachable.request(method, path) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert await resp.json() == {"error": "Redis is unavailable; retry later"}
    assert [entry["event"] for entry in logs] == ["http.redis_unavailable"]
    assert logs[0]["path"] == path
    assert logs[0]["log_level"] == "error"
    assert "exc_info" not in logs[0]
    assert "127.0.0.1" in logs[0]["error"]


async def test_v2_readiness_is_false_without_redis(unreachable: aiohttp.ClientSession) -> None:
    """GET /v2/readiness answers 503 {"ready": false} while Redis is out of reach."""
    async with unreachable.get("/v2/readiness") as resp:
        assert (resp.status, await resp.json()) == (503, {"ready": False})


async def test_redis_stopping_and_coming_back(tmp_path: Path) -> None:
    """Given a running ingress, when its Redis stops, calls answer 503; when the server is
    back on the same port, the same call succeeds again without a restart."""
    server = EmbeddedServer(tmp_path / "redis", appendonly=False).start()
    hookstream = await Hookstream(server.url, with_worker=False).start()
    assert hookstream.http is not None
    try:
        server.stop()
        async with hookstream.http.get("/v2/queues") as resp:
            assert (resp.status, resp.headers["Retry-After"]) == (503, "5")
        server = EmbeddedServer(tmp_path / "redis", port=server.port, appendonly=False).start()
        async with hookstream.http.get("/v2/queues") as resp:
            assert (resp.status, await resp.json()) == (200, [])
    finally:
        await hookstream.stop()
        server.stop()


async def test_out_of_memory_is_503_and_stores_nothing(tmp_path: Path) -> None:
    """Under `maxmemory` with noeviction, a publish Redis refuses (OOM) is a 503 with
    Retry-After, never a 500 and never an acknowledged message that was not stored."""
    server = EmbeddedServer(tmp_path / "redis", appendonly=False).start()
    hookstream = await Hookstream(server.url, with_worker=False).start()
    try:
        redis = hookstream.conn.redis
        await redis.set("ballast", b"x" * 256 * 1024)
        used = int((await redis.info("memory"))["used_memory"])
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", str(used - 128 * 1024))  # writes are refused now
        assert hookstream.http is not None
        before = await redis.dbsize()
        async with hookstream.http.post("/v2/publish/https://example.com/x", data="x") as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert "unavailable" in (await resp.json())["error"]
        assert await redis.dbsize() == before
    finally:
        await hookstream.stop()
        server.stop()


async def test_readyz_names_no_address_and_no_exception(
    unreachable: aiohttp.ClientSession,
) -> None:
    """/readyz answers anyone, so its 503 says "Redis is unreachable" and nothing else: no
    address, port or exception text; the log line keeps those for the operator."""
    with capture_logs() as logs:
        async with unreachable.get("/readyz", headers={"Authorization": ""}) as resp:
            assert resp.status == 503
            assert await resp.json() == {"status": "unready", "reason": "Redis is unreachable"}
    (logged,) = [entry for entry in logs if entry["event"] == "readiness.failed"]
    assert "127.0.0.1" in logged["reason"]
    assert logged["reason"].startswith("ConnectionError")
