"""Bounded inputs (docs/security.md "Limits"): each request over a limit gets a 4xx that names
the field or setting, and Redis is left exactly as it was."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from broker.queue import keys
from broker.queue.keys import queue_partition
from broker.queue.schedules import Schedules
from scheduler.tick import Ticker
from tests.support.api import api, eventually
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration

URL = "http://h.io/x"


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress without a worker, so nothing changes Redis but the requests themselves."""
    running = await Hookstream(redis_url, with_worker=False).start()
    yield running
    await running.stop()


async def refused(
    server: Hookstream, method: str, path: str, status: int, *named: str, **request: Any
) -> None:
    """The request gets `status` with an error naming every one of `named`; nothing is written."""
    assert server.http is not None
    before = await redis_snapshot(server.conn.redis)
    async with server.http.request(method, path, **request) as resp:
        answer = await resp.json()
        assert resp.status == status, answer
    for name in named:
        assert name in answer["error"]
    assert await redis_snapshot(server.conn.redis) == before


IN_30_DAYS = str(int(time.time()) + 30 * 86_400)
MAX_DELAY = "HOOKSTREAM_MAX_DELAY"
NUMBERS = {
    "delay-8d": ({"Upstash-Delay": "8d"}, ("Upstash-Delay", MAX_DELAY)),
    "delay-1e23d": ({"Upstash-Delay": "99999999999999999999999d"}, ("Upstash-Delay", MAX_DELAY)),
    "delay-400-digits": ({"Upstash-Delay": "9" * 400 + "s"}, ("Upstash-Delay",)),
    "not-before-30d": ({"Upstash-Not-Before": IN_30_DAYS}, ("Upstash-Not-Before", MAX_DELAY)),
    "timeout-400-digits": ({"Upstash-Timeout": "9" * 400}, ("Upstash-Timeout",)),
    "retries-underscore": ({"Upstash-Retries": "1_0"}, ("Upstash-Retries",)),
    "retries-30-digits": ({"Upstash-Retries": "9" * 30}, ("Upstash-Retries",)),
    "retry-delay-negative-later": (
        {"Upstash-Retries": "20", "Upstash-Retry-Delay": "1000 - 100 * retried"},
        ("Upstash-Retry-Delay", "retried=11"),
    ),
    "retry-delay-overflow": ({"Upstash-Retry-Delay": "pow(10, 400)"}, ("Upstash-Retry-Delay",)),
    "retry-delay-complex": ({"Upstash-Retry-Delay": "(-1) ** 0.5"}, ("Upstash-Retry-Delay",)),
    "callback-delay-30d": (
        {"Upstash-Callback": "http://h.io/cb", "Upstash-Callback-Delay": "30d"},
        ("Upstash-Callback-Delay", MAX_DELAY),
    ),
    "failure-callback-retry-delay": (
        {"Upstash-Failure-Callback": "http://h.io/f", "Upstash-Failure-Callback-Retry-Delay": "-1"},
        ("Upstash-Failure-Callback-Retry-Delay",),
    ),
}


@pytest.mark.parametrize(("headers", "named"), NUMBERS.values(), ids=NUMBERS.keys())
async def test_numbers_out_of_range(
    server: Hookstream, headers: dict[str, str], named: tuple[str, ...]
) -> None:
    """Delays beyond HOOKSTREAM_MAX_DELAY, numbers too long to be numbers, and retry delays
    that are negative or not finite for some retry are refused at publish."""
    await refused(server, "POST", f"/v2/publish/{URL}", 400, *named, data="x", headers=headers)


PAGING = {
    "events-count-0": ("GET", "/v2/events", {"count": "0"}, "count"),
    "events-count-negative": ("GET", "/v2/events", {"count": "-5"}, "count"),
    "events-count-over-1000": ("GET", "/v2/events", {"count": "1001"}, "from 1 to 1000"),
    "events-count-huge": ("GET", "/v2/events", {"count": "9" * 30}, "count"),
    "events-count-text": ("GET", "/v2/events", {"count": "ten"}, "count"),
    "dlq-count-over-100": ("GET", "/v2/dlq", {"count": "101"}, "from 1 to 100"),
    "dlq-bulk-delete-count-0": ("DELETE", "/v2/dlq", {"count": "0"}, "count"),
    "dlq-bulk-retry-count-0": ("POST", "/v2/dlq/retry", {"count": "0"}, "count"),
    "cursor-past-64-bits": (
        "GET",
        "/v2/events",
        {"cursor": "99999999999999999999999-0/0"},
        "cursor",
    ),
    "cursor-unknown-partition": ("GET", "/v2/events", {"cursor": "1-0/7"}, "cursor"),
    "cursor-negative-partition": ("GET", "/v2/dlq", {"cursor": "1-0/-1"}, "cursor"),
    "cursor-other-digits": ("GET", "/v2/dlq", {"cursor": "\u0661-0/0"}, "cursor"),
}


@pytest.mark.parametrize(("method", "path", "params", "named"), PAGING.values(), ids=PAGING.keys())
async def test_paging_parameters_out_of_range(
    server: Hookstream, method: str, path: str, params: dict[str, str], named: str
) -> None:
    """`count` outside 1..the page maximum and cursors this server cannot have issued are
    400s, for listing and for the bulk DLQ calls alike."""
    await refused(server, method, path, 400, named, params=params)


def endpoints(count: int, prefix: str = "e") -> dict[str, list[dict[str, str]]]:
    return {"endpoints": [{"url": f"http://h.io/{prefix}{n}"} for n in range(count)]}


async def group(server: Hookstream, name: str, count: int) -> None:
    assert server.http is not None
    path = f"/v2/topics/{name}/endpoints"
    async with server.http.post(path, json=endpoints(count)) as resp:
        assert resp.status == 200, await resp.text()


async def test_url_group_endpoints_are_bounded(server: Hookstream) -> None:
    """101 endpoints in one call, or a 101st added to a full group, is a 400 naming
    HOOKSTREAM_MAX_GROUP_ENDPOINTS, and the group stays as it was."""
    path = "/v2/topics/big/endpoints"
    await refused(server, "POST", path, 400, "HOOKSTREAM_MAX_GROUP_ENDPOINTS", json=endpoints(101))
    await group(server, "big", 100)
    more = endpoints(1, prefix="more")
    await refused(server, "POST", path, 400, "HOOKSTREAM_MAX_GROUP_ENDPOINTS", json=more)


async def test_publish_bytes_count_every_endpoint(server: Hookstream) -> None:
    """A 200 KiB body to 100 endpoints would store 20 MiB: a 400 naming
    HOOKSTREAM_MAX_PUBLISH_BYTES; the same body to 50 endpoints (10 MB) is stored."""
    await group(server, "wide", 100)
    body = b"x" * 200 * 1024
    await refused(
        server, "POST", "/v2/publish/wide", 400, "HOOKSTREAM_MAX_PUBLISH_BYTES", data=body
    )
    await group(server, "half", 50)
    assert len(await server.publish("half", body)) == 50


def batch(count: int, destination: str = URL, body: str = "x") -> list[dict[str, str]]:
    return [{"destination": destination, "body": body} for _ in range(count)]


async def test_batch_items_are_bounded(server: Hookstream) -> None:
    """101 items: a 400 naming HOOKSTREAM_MAX_BATCH_ITEMS; 100 are stored."""
    await refused(server, "POST", "/v2/batch", 400, "HOOKSTREAM_MAX_BATCH_ITEMS", json=batch(101))
    assert server.http is not None
    async with server.http.post("/v2/batch", json=batch(100)) as resp:
        assert resp.status == 201, await resp.text()


async def test_batch_totals_count_every_item(server: Hookstream) -> None:
    """Items that are each small enough add up: 20 items to a 60-endpoint group are 1200
    messages (HOOKSTREAM_MAX_PUBLISH_MESSAGES), 2 items of 60 KB to 100 endpoints are 12 MB
    (HOOKSTREAM_MAX_PUBLISH_BYTES); nothing of either batch is written."""
    await group(server, "sixty", 60)
    await group(server, "hundred", 100)
    many = batch(20, destination="sixty")
    await refused(server, "POST", "/v2/batch", 400, "HOOKSTREAM_MAX_PUBLISH_MESSAGES", json=many)
    heavy = [{"destination": URL, "body": "small"}, *batch(2, "hundred", "y" * 60_000)]
    await refused(server, "POST", "/v2/batch", 400, "HOOKSTREAM_MAX_PUBLISH_BYTES", json=heavy)


async def test_schedule_tick_too_large_records_the_error(server: Hookstream) -> None:
    """A tick whose group makes it store more than HOOKSTREAM_MAX_PUBLISH_BYTES publishes
    nothing; the error is recorded on the schedule, like a missing group's."""
    await group(server, "wide", 100)
    code, answer = await api(
        server, "POST", "/v2/schedules/wide", data=b"x" * 200 * 1024,
        headers={"Upstash-Cron": "0 0 * * *"},
    )  # fmt: skip
    assert code == 200, answer
    schedules = Schedules(server.conn)
    await server.conn.redis.zadd(keys.SCHEDULES_DUE, {answer["scheduleId"]: 1})
    assert await Ticker(schedules).fire_due(await schedules.now_ms(), 10) == 1
    _, shown = await api(server, "GET", f"/v2/schedules/{answer['scheduleId']}")
    assert "HOOKSTREAM_MAX_PUBLISH_BYTES" in shown["error"]
    assert await server.conn.redis.keys("{hs:*}:msg:*") == []


async def test_labels_are_bounded(server: Hookstream) -> None:
    """11 labels on a publish, or 80,000 on a batch item, are a 400 naming
    HOOKSTREAM_MAX_LABELS; 10 are stored."""
    eleven = {"Upstash-Label": ",".join(f"l{n}" for n in range(11))}
    path = f"/v2/publish/{URL}"
    await refused(server, "POST", path, 400, "HOOKSTREAM_MAX_LABELS", data="x", headers=eleven)
    flood = [{"destination": URL, "headers": {"Upstash-Label": ",".join(["l"] * 80_000)}}]
    await refused(
        server, "POST", "/v2/batch", 400, "batch item 0", "HOOKSTREAM_MAX_LABELS", json=flood
    )
    ten = ",".join(f"l{n}" for n in range(10))
    answer = await server.publish(URL, "x", **{"Upstash-Label": ten})
    _, message = await api(server, "GET", f"/v2/messages/{answer['messageId']}")
    assert len(message["labels"]) == 10


FLOW = {
    "parallelism-1001": ("parallelism=1001", "HOOKSTREAM_MAX_PARALLELISM"),
    "rate-10001": ("rate=10001", "HOOKSTREAM_MAX_RATE"),
    "period-8d": ("rate=1, period=8d", "HOOKSTREAM_MAX_RATE_PERIOD"),
    "rate-30-digits": ("rate=" + "9" * 30, "Upstash-Flow-Control-Value rate"),
}


@pytest.mark.parametrize(("value", "named"), FLOW.values(), ids=FLOW.keys())
async def test_flow_control_values_are_bounded(server: Hookstream, value: str, named: str) -> None:
    """Parallelism, rate and period past their settings are a 400 at publish."""
    headers = {"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": value}
    await refused(server, "POST", f"/v2/publish/{URL}", 400, named, data="x", headers=headers)


PINS = {
    "parallelism-1001": ({"parallelism": "1001"}, "HOOKSTREAM_MAX_PARALLELISM"),
    "rate-10001": ({"rate": "10001"}, "HOOKSTREAM_MAX_RATE"),
    "period-8d": ({"period": str(8 * 86_400)}, "HOOKSTREAM_MAX_RATE_PERIOD"),
    "rate-underscore": ({"rate": "1_0"}, "rate"),
}


@pytest.mark.parametrize(("params", "named"), PINS.values(), ids=PINS.keys())
async def test_pinned_limits_are_bounded(
    server: Hookstream, params: dict[str, str], named: str
) -> None:
    """The pin API takes the same bounds as the header, and the queue API the parallelism's."""
    headers = {"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=5"}
    await server.publish(URL, "x", **headers)
    await refused(server, "POST", "/v2/flowControl/k/pin", 400, named, params=params)
    queue = {"queueName": "q", "parallelism": 1001, "paused": False}
    await refused(server, "POST", "/v2/queues", 400, "HOOKSTREAM_MAX_PARALLELISM", json=queue)


async def gate_state(server: Hookstream, keys: list[str]) -> tuple[int, int]:
    """(admitted, waiting) of a gate."""
    gate, wait = keys
    active = await server.conn.redis.hget(gate, "active")
    return int(active or 0), await server.conn.redis.llen(wait)


@pytest.mark.parametrize("kind", ["flow-control", "queue"])
async def test_one_admission_round_is_bounded_and_strands_nothing(
    redis_url: str, sink: Sink, kind: str
) -> None:
    """Resuming a gate with no effective limit (a flow-control key without parallelism, a
    queue of parallelism 1000) over 500 waiting messages admits 100 in that script call; the
    settles of those admit the rest, and all 500 are delivered."""
    server = await Hookstream(redis_url, with_worker=False).start()
    try:
        partition = queue_partition("g", server.settings.partitions)
        if kind == "flow-control":
            item = {"destination": sink.url(), "headers": {"Upstash-Flow-Control-Key": "g"}}
            keys, resume = partition.flow_keys("g"), "/v2/flowControl/g/resume"
            await api(server, "POST", "/v2/batch", json=[item])  # creates the key
            await api(server, "POST", "/v2/flowControl/g/pause")
        else:
            item, keys, resume = (
                {"destination": sink.url(), "queue": "g"},
                partition.queue_keys("g"),
                "/v2/queues/g/resume",
            )
            queue = {"queueName": "g", "parallelism": 1000, "paused": True}
            await api(server, "POST", "/v2/queues", json=queue)
        for _ in range(5):
            code, answer = await api(server, "POST", "/v2/batch", json=[item] * 100)
            assert code == 201, answer
        first = 1 if kind == "flow-control" else 0
        assert await gate_state(server, keys) == (first, 500)
        assert (await api(server, "POST", resume))[0] == 200
        assert await gate_state(server, keys) == (first + 100, 400)
        await server.start_worker()
        await sink.wait_for(first + 500, timeout=60)

        async def drained() -> bool:
            return await gate_state(server, keys) == (0, 0)

        await eventually(drained)
    finally:
        await server.stop()


async def test_rate_history_keeps_only_the_last_period(server: Hookstream) -> None:
    """A key keeps the admission times of its last period only: 30 admissions, a period of
    quiet, one more, and the gate holds one time, not 31."""
    headers = {
        "Upstash-Flow-Control-Key": "r",
        "Upstash-Flow-Control-Value": "rate=1000, period=1s",
    }
    code, _ = await api(
        server, "POST", "/v2/batch", json=[{"destination": URL, "headers": headers}] * 30
    )
    assert code == 201
    gate, _ = queue_partition("r", server.settings.partitions).flow_keys("r")
    assert len((await server.conn.redis.hget(gate, "times")).split(b",")) == 30
    await asyncio.sleep(1.2)
    await server.publish(URL, "x", **headers)
    assert len((await server.conn.redis.hget(gate, "times")).split(b",")) == 1


# -- slow and numerous clients, over raw sockets on the loopback ------------------------------

WAIT_S = 5.0
"""The longest any of these tests waits for the server to answer or to close."""


async def connect(server: Hookstream) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.settings.port)


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def head(path: str, *lines: str) -> bytes:
    fields = ["Host: 127.0.0.1", f"Authorization: Bearer {TEST_TOKEN}", *lines]
    return "\r\n".join([f"POST {path} HTTP/1.1", *fields, "", ""]).encode()


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response, read within WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            length = int(value) if name.lower() == "content-length" else length
        return status, await reader.readexactly(length)


async def test_declared_body_over_the_limit_is_refused_unread(server: Hookstream) -> None:
    """Content-Length: 100 MB and no body sent: a 413 naming HOOKSTREAM_MAX_BODY_BYTES comes
    at once (the server does not wait for the body), and nothing is written."""
    before = await redis_snapshot(server.conn.redis)
    reader, writer = await connect(server)
    writer.write(head(f"/v2/publish/{URL}", "Content-Length: 100000000"))
    status, body = await answer(reader)
    await hang_up(writer)
    assert status == 413
    assert "HOOKSTREAM_MAX_BODY_BYTES" in body.decode()
    assert await redis_snapshot(server.conn.redis) == before


async def test_half_a_request_line_is_closed_at_the_deadline(redis_url: str) -> None:
    """A client that sends half a request line and stalls is disconnected once
    HOOKSTREAM_HTTP_IDLE_TIMEOUT (here 0.5 s) has passed, not an hour later."""
    server = await Hookstream(redis_url, with_worker=False, http_idle_timeout_ms=500).start()
    try:
        reader, writer = await connect(server)
        writer.write(b"POST /v2/publ")
        started = time.monotonic()
        async with asyncio.timeout(WAIT_S):
            assert await reader.read() == b""  # closed by the server
        assert time.monotonic() - started >= 0.4
        await hang_up(writer)
    finally:
        await server.stop()


async def test_slow_body_is_408(redis_url: str) -> None:
    """A body that stalls part-way gets a 408 naming HOOKSTREAM_HTTP_BODY_TIMEOUT once it
    has taken longer than that (here 0.5 s); nothing is written."""
    server = await Hookstream(redis_url, with_worker=False, http_body_timeout_ms=500).start()
    try:
        before = await redis_snapshot(server.conn.redis)
        reader, writer = await connect(server)
        writer.write(head(f"/v2/publish/{URL}", "Content-Length: 10") + b"ab")
        status, body = await answer(reader)
        await hang_up(writer)
        assert status == 408
        assert "HOOKSTREAM_HTTP_BODY_TIMEOUT" in body.decode()
        assert await redis_snapshot(server.conn.redis) == before
    finally:
        await server.stop()


async def test_connections_past_the_limit_get_503(redis_url: str) -> None:
    """With HOOKSTREAM_HTTP_MAX_CONNECTIONS=3 and three open keep-alive connections, a fourth
    is answered 503 naming the setting and closed; once one closes, a new one is served."""
    server = await Hookstream(redis_url, with_worker=False, http_max_connections=3).start()
    health = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        held = [await connect(server) for _ in range(3)]
        for reader, writer in held:
            writer.write(health)
            assert (await answer(reader))[0] == 200
        reader, writer = await connect(server)
        writer.write(health)
        status, body = await answer(reader)
        assert (status, b"HOOKSTREAM_HTTP_MAX_CONNECTIONS" in body) == (503, True)
        await hang_up(writer)
        await hang_up(held.pop()[1])

        async def served() -> bool:
            reader, writer = await connect(server)
            writer.write(health)
            status, _ = await answer(reader)
            if status == 200:
                held.append((reader, writer))
            else:
                await hang_up(writer)
            return status == 200

        await eventually(served, timeout=WAIT_S)
        for _, held_writer in held:
            await hang_up(held_writer)
    finally:
        await server.stop()
