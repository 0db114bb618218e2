"""Readiness on persistence: an evicting Redis is not ready (unless the operator accepts it),
the persistence mode is reported, and a Redis without CONFIG falls back to INFO."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis
import redis.asyncio
from structlog.testing import capture_logs

from broker.queue.durability import EVICTS, Durability, read_durability
from broker.redis_server import find_server_binary, free_port, stop_process
from tests.support.api import api
from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.integration


@pytest.fixture(name="evicting")
def _evicting(redis_url: str) -> Iterator[None]:
    """The test server with `maxmemory-policy allkeys-lru`, restored afterwards."""
    client = redis.Redis.from_url(redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        yield
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()


async def readyz(server: Hookstream) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession(server.url) as anonymous, anonymous.get("/readyz") as resp:
        return resp.status, await resp.json()


async def test_noeviction_is_ready_and_reports_persistence(hookstream: Hookstream) -> None:
    """The test server (noeviction, no AOF, no save points) is ready, persistence `none`."""
    assert await readyz(hookstream) == (200, {"status": "ready", "persistence": "none"})


@pytest.mark.usefixtures("evicting")
async def test_evicting_redis_is_not_ready(hookstream: Hookstream) -> None:
    """allkeys-lru: /readyz and /v2/readiness say not ready, naming eviction only."""
    assert await readyz(hookstream) == (
        503,
        {"status": "unready", "reason": EVICTS, "persistence": "none"},
    )
    assert await api(hookstream, "GET", "/v2/readiness") == (503, {"ready": False})


@pytest.mark.usefixtures("evicting")
async def test_the_override_accepts_eviction(redis_url: str) -> None:
    """HOOKSTREAM_ALLOW_EVICTION: ready on allkeys-lru, and the startup line says the risk
    was accepted."""
    with capture_logs() as logs:
        server = await Hookstream(redis_url, with_worker=False, allow_eviction=True).start()
    try:
        assert (await readyz(server))[0] == 200
    finally:
        await server.stop()
    [line] = [entry for entry in logs if entry["event"] == "redis.evicts"]
    assert (line["accepted"], line["maxmemory_policy"]) == (True, "allkeys-lru")


async def test_startup_logs_the_persistence_mode(redis_url: str) -> None:
    """Every start logs how Redis persists and what a crash of it may lose."""
    client = redis.Redis.from_url(redis_url)
    client.config_set("appendonly", "yes")
    try:
        with capture_logs() as logs:
            server = await Hookstream(redis_url, with_worker=False).start()
        await server.stop()
    finally:
        client.config_set("appendonly", "no")
        client.close()
    [line] = [entry for entry in logs if entry["event"] == "redis.persistence"]
    assert line["persistence"] == "aof-everysec"
    assert line["may_lose"] == "about the last second of acknowledged writes"


@pytest.fixture(name="no_config")
def _no_config(tmp_path: Path) -> Iterator[str]:
    """A real server with CONFIG renamed away, as managed Redis services do, evicting."""
    port = free_port()
    args = [find_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(tmp_path), "--save", "", "--appendonly", "yes",
            "--maxmemory-policy", "volatile-lru", "--rename-command", "CONFIG", ""]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        _wait_up(client, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        stop_process(process)


def _wait_up(client: redis.Redis, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            assert process.poll() is None, "the server exited"
            time.sleep(0.05)
    raise AssertionError("the server did not answer PING within 10 s")


@pytest.fixture(name="no_config_client")
async def _no_config_client(no_config: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(no_config)
    yield client
    await client.aclose()


async def test_without_config_info_tells_policy_and_aof(
    no_config_client: redis.asyncio.Redis,
) -> None:
    """CONFIG disabled: INFO gives the policy and the AOF switch; fsync and RDB are unknown."""
    with pytest.raises(redis.ResponseError):
        await no_config_client.config_get("maxmemory-policy")  # the control: CONFIG is gone
    durability = await read_durability(no_config_client)
    assert durability == Durability("volatile-lru", True, None, None)
    assert durability.mode == "aof-unknown"
    assert durability.evicts


def test_unknown_settings_are_reported_unknown() -> None:
    """Nothing readable: mode and loss are "unknown", and eviction is not assumed."""
    durability = Durability(None, None, None, None)
    assert (durability.mode, durability.evicts) == ("unknown", None)
    assert durability.may_lose.startswith("unknown")


@pytest.mark.parametrize(
    ("durability", "mode", "loss"),
    [
        (Durability("noeviction", True, "always", False), "aof-always", "nothing acknowledged"),
        (Durability("noeviction", True, "everysec", True), "aof-everysec+rdb", "about the last"),
        (Durability("noeviction", True, "no", False), "aof-no", "the writes the OS"),
        (Durability("noeviction", False, None, True), "rdb", "every write since"),
        (Durability("noeviction", False, None, False), "none", "everything"),
    ],
)
def test_each_persistence_mode_says_what_it_may_lose(
    durability: Durability, mode: str, loss: str
) -> None:
    """The mode names AOF fsync (and RDB beside it), RDB only or nothing; the loss matches."""
    assert durability.mode == mode
    assert durability.may_lose.startswith(loss)
    assert durability.evicts is False
