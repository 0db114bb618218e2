"""Housekeeping against the real server: idle flow-control keys expire, busy ones stay; dead
workers' consumer names leave the groups, never while they hold entries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from broker.queue.housekeeping import expire_idle_flow_keys, remove_dead_consumers
from broker.queue.keys import FLOW_CONTROL_INDEX, GROUP, queue_partition
from tests.support.api import api, by_path, eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def _publish(server: Hookstream, url: str, key: str, value: str = "parallelism=1") -> None:
    headers = {"Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": value}
    code, answer = await api(server, "POST", f"/v2/publish/{url}", headers=headers)
    assert code == 201, answer


async def _stored(server: Hookstream, key: str) -> tuple[bool, bool, bool]:
    """(gate hash exists, wait list exists, index entry exists) of a flow-control key."""
    gate, wait = queue_partition(key, server.settings.partitions).flow_keys(key)
    redis = server.conn.redis
    listed = bool(await redis.sismember(FLOW_CONTROL_INDEX, key))  # type: ignore[misc]
    return bool(await redis.exists(gate)), bool(await redis.exists(wait)), listed


async def _admitted(server: Hookstream, key: str) -> int:
    code, info = await api(server, "GET", f"/v2/flowControl/{key}")
    assert code == 200, info
    return int(info["parallelismCount"])


@pytest.fixture(name="eager")
async def _eager(redis_url: str) -> AsyncIterator[Hookstream]:
    """Ingress + worker whose flow-control keys count as idle at once (the loop runs rarely)."""
    server = await Hookstream(redis_url, flow_control_idle_ms=0).start()
    yield server
    await server.stop()


async def test_worker_expires_an_idle_key(
    redis_url: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key whose messages were delivered and that nobody used for the idle time is gone:
    gate, wait list and index entry; the API answers 404 and lists nothing."""
    monkeypatch.setattr("workers.worker.HOUSEKEEPING_SECONDS", 0.05)
    server = await Hookstream(redis_url, flow_control_idle_ms=300).start()
    try:
        await _publish(server, sink.url(), "tenant-1")
        await sink.wait_for(1)

        async def expired() -> bool:
            return await _stored(server, "tenant-1") == (False, False, False)

        await eventually(expired)
        assert (await api(server, "GET", "/v2/flowControl/tenant-1"))[0] == 404
        assert await api(server, "GET", "/v2/flowControl") == (200, [])
    finally:
        await server.stop()


async def test_keys_in_use_or_configured_are_kept(eager: Hookstream, sink: Sink) -> None:
    """With no idle time to wait, a pass still keeps a key with a message in flight, a pinned
    one, a paused one, and one whose rate period holds an admission; only the plain idle
    key goes. The busy key goes on a later pass, once its message is delivered."""
    release = asyncio.Event()

    async def hold(_: web.Request, __: bytes) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    sink.respond = by_path({"/busy": hold})
    for key in ("idle", "pinned", "paused"):
        await _publish(eager, sink.url(f"/{key}"), key)
    await _publish(eager, sink.url("/rated"), "rated", "rate=1, period=60s")
    await _publish(eager, sink.url("/busy"), "busy")
    await sink.wait_for(5)
    for key in ("idle", "pinned", "paused", "rated"):
        await eventually(lambda k=key: _zero(eager, k))  # type: ignore[misc]
    assert (await api(eager, "POST", "/v2/flowControl/pinned/pin?parallelism=3"))[0] == 200
    assert (await api(eager, "POST", "/v2/flowControl/paused/pause"))[0] == 200

    assert await expire_idle_flow_keys(eager.conn) == ["idle"]
    assert await _stored(eager, "idle") == (False, False, False)
    for key in ("pinned", "paused", "rated", "busy"):
        assert (await _stored(eager, key))[::2] == (True, True), key

    release.set()
    await eventually(lambda: _zero(eager, "busy"))
    assert await expire_idle_flow_keys(eager.conn) == ["busy"]


async def _zero(server: Hookstream, key: str) -> bool:
    return await _admitted(server, key) == 0


async def test_a_key_used_within_the_idle_time_is_kept(eager: Hookstream, sink: Sink) -> None:
    """Idle means unused for HOOKSTREAM_FLOW_CONTROL_IDLE: a key published to a moment ago
    stays, though it holds nothing."""
    await _publish(eager, sink.url(), "recent")
    await sink.wait_for(1)
    await eventually(lambda: _zero(eager, "recent"))
    patient = replace(eager.conn, settings=replace(eager.settings, flow_control_idle_ms=60_000))
    assert await expire_idle_flow_keys(patient) == []
    assert await _stored(eager, "recent") == (True, False, True)


async def test_a_publish_between_delete_and_unlisting_keeps_its_key(
    eager: Hookstream, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass deletes the idle gate in one script, then drops the index entry. A publish
    landing in between recreates the gate and lists it; the pass must not leave that live gate
    unlisted (invisible to the API's list and to later passes)."""
    await _publish(eager, sink.url("/first"), "raced")
    await sink.wait_for(1)
    await eventually(lambda: _zero(eager, "raced"))
    redis = eager.conn.redis
    unlist = redis.srem

    async def publish_first(*args: object) -> object:
        await _publish(eager, sink.url("/second"), "raced")
        return await unlist(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(redis, "srem", publish_first)
    assert await expire_idle_flow_keys(eager.conn) == []
    assert await _stored(eager, "raced") == (True, False, True)
    code, listed = await api(eager, "GET", "/v2/flowControl")
    assert (code, [k["flowControlKey"] for k in listed]) == (200, ["raced"])
    await sink.wait_for(1, path="/second")


async def _consumers(server: Hookstream) -> dict[tuple[int, str], int]:
    """(partition, consumer name) -> pending entries, over every partition's group."""
    found = {}
    for partition in server.conn.partitions:
        for consumer in await server.conn.redis.xinfo_consumers(partition.ready, GROUP):
            found[partition.partition, consumer["name"].decode()] = consumer["pending"]
    return found


async def _read_as(server: Hookstream, consumer: str) -> list[int]:
    """XREADGROUP under `consumer` in every partition, as a worker that then dies; the
    partitions it took an entry in."""
    took = []
    for partition in server.conn.partitions:
        streams = {partition.ready: ">"}
        if await server.conn.redis.xreadgroup(GROUP, consumer, streams, count=1):
            took.append(partition.partition)
    return took


async def test_dead_consumers_leave_the_groups_once_they_hold_nothing(
    redis_url: str, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers died: one holding a message, one holding nothing. The pass removes every
    name from every group where it holds nothing, and never from the group where it holds the
    pending entry; once a live worker reclaimed and delivered that message, the worker's own
    housekeeping removes that last name too."""
    monkeypatch.setattr("workers.worker.HOUSEKEEPING_SECONDS", 0.05)
    server = await Hookstream(redis_url, with_worker=False, consumer_idle_ms=100).start()
    try:
        await server.conn.ensure_groups()
        await server.publish(sink.url("/held"))
        (held,) = await _read_as(server, "dead-holding")
        assert await _read_as(server, "dead-empty") == []
        await _read_as(server, "me")
        await asyncio.sleep(0.2)
        removed = await remove_dead_consumers(server.conn, keep="me")
        assert removed == ["dead-empty", "dead-holding"]
        partitions = range(server.settings.partitions)
        assert await _consumers(server) == {(held, "dead-holding"): 1} | {
            (p, "me"): 0 for p in partitions
        }

        worker = await server.start_worker()
        await sink.wait_for(1, timeout=15)  # reclaimed after the visibility timeout

        async def only_the_live_worker() -> bool:
            return {name for _, name in await _consumers(server)} == {worker.consumer.name}

        await eventually(only_the_live_worker)
    finally:
        await server.stop()
