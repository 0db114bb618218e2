"""Tokens against the real server: how they are compared, what read-only ones may do, rate
limits per token, and what /readyz tells callers without one."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from broker.http.app import build_app
from broker.http.middleware import Access, access_of
from broker.queue.connection import Connection
from broker.redis_server import free_port
from broker.settings import RateLimit, Settings
from tests.support.hookstream import Hookstream
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration

FULL_TOKEN = "full-token-0123456789"
OTHER_TOKEN = "other-token-with-another-length-0123456789"


@pytest.fixture(name="server")
async def _server(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress with two full tokens of different lengths."""
    server = await Hookstream(
        redis_url, with_worker=False, tokens=(FULL_TOKEN, OTHER_TOKEN)
    ).start()
    yield server
    await server.stop()


async def _status(server: Hookstream, method: str, path: str, token: str) -> int:
    async with (
        aiohttp.ClientSession(server.url) as session,
        session.request(method, path, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status


async def test_tokens_are_compared_as_fixed_length_digests(
    server: Hookstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the length of the presented token, the server compares two 32-byte digests
    per configured token, all of them: the time taken tells nothing about token lengths."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for presented, status in [("x", 401), (FULL_TOKEN, 200), ("y" * 300, 401), (OTHER_TOKEN, 200)]:
        compared.clear()
        assert await _status(server, "GET", "/v2/queues", presented) == status
        assert compared == [(32, 32), (32, 32)], presented


READ_ONLY_TOKEN = "read-only-token-0123456789"
SAMPLE_PARAMETERS = {
    "destination": "https://example.com/hook",
    "message_id": "msg_0_01HZZZZZZZZZZZZZZZZZZZZZZZ",
    "dlq_id": "1700000000000-0-0",
    "schedule_id": "daily",
    "action": "pause",
    "name": "orders",
    "queue": "orders",
    "key": "tenant-1",
    "run_id": "wfr_sample",
    "event_id": "order-paid",
    "user_id": "someone",
}


def _api_routes(server: Hookstream) -> list[tuple[str, str, Access]]:
    """(method, sample path, access) of every /v2 route the running app serves, HEAD aside."""
    routes = []
    for route in build_app(server.conn).router.routes():
        assert route.resource is not None
        template = route.resource.canonical
        if route.method == "HEAD" or not template.startswith("/v2/"):
            continue
        access = access_of(route.method, template)
        assert access is not None, (route.method, template)
        routes.append((route.method, template.format(**SAMPLE_PARAMETERS), access))
    return routes


@pytest.fixture(name="guarded")
async def _guarded(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress with a full and a read-only token."""
    server = Hookstream(
        redis_url, with_worker=False, tokens=(FULL_TOKEN,), readonly_tokens=(READ_ONLY_TOKEN,)
    )
    yield await server.start()
    await server.stop()


async def test_read_only_token_walks_every_route(guarded: Hookstream) -> None:
    """Across every route of the app, a read-only token gets 403 {"error"} (and writes
    nothing) wherever it would publish, change, delete or see the signing keys, and an
    ordinary answer (200 or 404) wherever it reads."""
    before = await redis_snapshot(guarded.conn.redis)
    answers = {}
    async with aiohttp.ClientSession(guarded.url) as session:
        for method, path, access in _api_routes(guarded):
            headers = {"Authorization": f"Bearer {READ_ONLY_TOKEN}"}
            query = {"cron": "* * * * *"} if path == "/v2/cronPreview" else None
            async with session.request(
                method, path, headers=headers, data=b"[]", params=query
            ) as resp:
                body = await resp.json()
                answers[(method, path)] = (access, resp.status, body)
                if access is Access.FULL:
                    assert (resp.status, list(body)) == (403, ["error"]), (method, path, body)
                else:
                    assert resp.status in (200, 404), (method, path, resp.status, body)
    assert await redis_snapshot(guarded.conn.redis) == before
    refusal = {"error": "this token is read-only: GET /v2/keys needs a full token"}
    assert answers[("GET", "/v2/keys")] == (Access.FULL, 403, refusal)
    assert answers[("GET", "/v2/queues")] == (Access.READ, 200, [])


async def test_read_only_token_in_the_query_is_read_only(guarded: Hookstream) -> None:
    """`?qstash_token=` carries the same rights as the header; a full token still writes."""
    async with aiohttp.ClientSession(guarded.url) as session:
        query = {"qstash_token": READ_ONLY_TOKEN}
        async with session.post("/v2/queues", params=query, json={"queueName": "q"}) as resp:
            assert resp.status == 403
        async with session.get("/v2/queues", params=query) as resp:
            assert (resp.status, await resp.json()) == (200, [])
        full = {"Authorization": f"Bearer {FULL_TOKEN}"}
        async with session.post("/v2/queues", headers=full, json={"queueName": "q"}) as resp:
            assert resp.status == 200


async def test_a_route_without_a_row_is_refused_to_read_only_tokens(redis_url: str) -> None:
    """Default deny: a GET route added to the app without a ROUTE_ACCESS row answers a
    read-only token 403, a full token 200."""
    settings = Settings(tokens=(FULL_TOKEN,), readonly_tokens=(READ_ONLY_TOKEN,), partitions=2)
    conn = Connection.open(settings, redis_url)
    app = build_app(conn)
    app.router.add_get("/v2/unclassified", _ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for token, status in [(READ_ONLY_TOKEN, 403), (FULL_TOKEN, 200)]:
                headers = {"Authorization": f"Bearer {token}"}
                async with session.get("/v2/unclassified", headers=headers) as resp:
                    assert resp.status == status
    finally:
        await runner.cleanup()
        await conn.close()


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({})


@pytest.fixture(name="limited")
async def _limited(redis_url: str) -> AsyncIterator[Hookstream]:
    """A production-mode ingress (dev mode never limits): 3 requests per minute and token."""
    server = Hookstream(
        redis_url,
        with_worker=False,
        dev=False,
        tokens=(FULL_TOKEN, OTHER_TOKEN),
        rate_limit=RateLimit(requests=3, window_ms=60_000),
    )
    yield await server.start()
    await server.stop()


async def _get_queues(url: str, token: str) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(url) as session,
        session.get("/v2/queues", headers=headers) as r,
    ):
        return r.status, dict(r.headers), await r.json()


async def test_over_the_rate_limit_is_429_with_burst_headers(limited: Hookstream) -> None:
    """Each answer reports the token's window in Burst-RateLimit-*; the 4th call in the
    window is 429 {"error"} with Limit 3, Remaining 0, Reset (Unix seconds) and Retry-After,
    and without RateLimit-Limit, which both SDKs would read as the daily quota."""
    for remaining in ("2", "1", "0"):
        status, headers, _ = await _get_queues(limited.url, FULL_TOKEN)
        assert (status, headers["Burst-RateLimit-Remaining"]) == (200, remaining)
    status, headers, body = await _get_queues(limited.url, FULL_TOKEN)
    assert (status, list(body)) == (429, ["error"])
    assert (headers["Burst-RateLimit-Limit"], headers["Burst-RateLimit-Remaining"]) == ("3", "0")
    assert time.time() < int(headers["Burst-RateLimit-Reset"]) <= time.time() + 61
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "RateLimit-Limit" not in headers
    # Another token has a window of its own.
    assert (await _get_queues(limited.url, OTHER_TOKEN))[0] == 200


async def test_replicas_share_one_count(limited: Hookstream) -> None:
    """Two ingress replicas on one Redis count together: 2 calls on one and 1 on the other use
    the window up, and the next call on either is refused. The counter is named by a digest of
    the token, never the token, and expires with its window."""
    other = await Hookstream(
        limited.redis_url,
        with_worker=False,
        dev=False,
        tokens=(FULL_TOKEN,),
        rate_limit=RateLimit(requests=3, window_ms=60_000),
    ).start()
    try:
        statuses = [(await _get_queues(url, FULL_TOKEN))[0] for url in [limited.url] * 2]
        statuses.append((await _get_queues(other.url, FULL_TOKEN))[0])
        statuses.append((await _get_queues(limited.url, FULL_TOKEN))[0])
        statuses.append((await _get_queues(other.url, FULL_TOKEN))[0])
    finally:
        await other.stop()
    assert statuses == [200, 200, 200, 429, 429]
    (key,) = [k.decode() async for k in limited.conn.redis.scan_iter("{hs:rate:*")]
    assert FULL_TOKEN not in key
    assert 0 < await limited.conn.redis.pttl(key) <= 60_000


async def test_rate_limit_is_off_in_dev_and_by_default(redis_url: str) -> None:
    """`hookstream dev` ignores HOOKSTREAM_RATE_LIMIT; unset, nothing is limited."""
    assert Settings().rate_limit is None
    server = await Hookstream(
        redis_url, with_worker=False, rate_limit=RateLimit(requests=1, window_ms=60_000)
    ).start()
    try:
        for _ in range(3):
            status, headers, _ = await _get_queues(server.url, server.settings.tokens[0])
            assert status == 200
            assert "Burst-RateLimit-Limit" not in headers
    finally:
        await server.stop()
