"""The walking skeleton: publish over HTTP → Redis → worker → signed delivery."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import api, events_of, eventually, verify_signature
from tests.support.barriers import rotation_followers
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration


@pytest.mark.cluster
async def test_publish_is_delivered_signed(hookstream: Hookstream, sink: Sink) -> None:
    """Body, content type, forwarded headers and Upstash-* headers reach the destination,
    and the signature verifies with the official Receiver and the keys from /v2/keys."""
    answer = await hookstream.publish(
        sink.url("/hook"),
        '{ "hello": "world" }',
        **{"Content-Type": "application/json", "Upstash-Forward-My-Header": "my-value"},
    )
    message_id = answer["messageId"]
    assert message_id.startswith("msg_")

    (received,) = await sink.wait_for(1)
    assert received.method == "POST"
    assert received.body == b'{ "hello": "world" }'
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["My-Header"] == "my-value"
    assert received.headers["Upstash-Message-Id"] == message_id
    assert received.headers["Upstash-Retried"] == "0"
    assert "Upstash-Forward-My-Header" not in received.headers

    await verify_signature(hookstream, received, sink.url("/hook"))


async def test_destination_keeps_its_query_and_escapes(hookstream: Hookstream, sink: Sink) -> None:
    """The destination is the raw path plus the raw query; qstash_token is not forwarded."""
    assert hookstream.http is not None
    url = f"/v2/publish/{sink.url('/a%20b/c')}?x=1&y=two%2F&qstash_token={TEST_TOKEN}"
    async with (
        aiohttp.ClientSession(hookstream.url) as anonymous,
        anonymous.post(url, data="q") as resp,
    ):
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["url"] == sink.url("/a%20b/c") + "?x=1&y=two%2F"
    (received,) = await sink.wait_for(1)
    assert received.path == "/a%20b/c?x=1&y=two%2F"


async def test_method_and_empty_body(hookstream: Hookstream, sink: Sink) -> None:
    """Upstash-Method picks the verb; an empty body is delivered as empty."""
    await hookstream.publish(sink.url("/put"), b"", **{"Upstash-Method": "PUT"})
    (received,) = await sink.wait_for(1)
    assert received.method == "PUT"
    assert received.body == b""


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/v2/publish/ftp://example.com", {}, 400, "http(s) URL"),
        ("/v2/publish/https://", {}, 400, "invalid destination"),
        ("/v2/publish/http://h.io/x", {"Upstash-Retries": "lots"}, 400, "Upstash-Retries"),
        ("/v2/publish/http://h.io/x", {"Upstash-Delay": "tomorrow"}, 400, "Upstash-Delay"),
        ("/v2/publish/http://h.io/x", {"Upstash-Method": "BREW"}, 400, "Upstash-Method"),
        ("/v2/publish/http://h.io/x", {"Authorization": "Bearer wrong"}, 401, "token"),
    ],
)
async def test_bad_input_writes_nothing(
    hookstream: Hookstream, path: str, headers: dict[str, str], status: int, error: str
) -> None:
    """Every invalid publish gets a JSON error and leaves Redis exactly as it was."""
    assert hookstream.http is not None
    before = await redis_snapshot(hookstream.conn.redis)
    async with hookstream.http.post(path, data=b"x", headers=headers) as resp:
        assert resp.status == status
        assert error in (await resp.json())["error"]
    assert await redis_snapshot(hookstream.conn.redis) == before


async def test_oversized_body_is_413(redis_url: str) -> None:
    """A body over HOOKSTREAM_MAX_BODY_BYTES is refused with JSON and not stored."""
    server = await Hookstream(redis_url, with_worker=False, max_body_bytes=1024).start()
    try:
        assert server.http is not None
        before = await redis_snapshot(server.conn.redis)
        async with server.http.post("/v2/publish/http://h.io/x", data=b"x" * 2048) as resp:
            assert resp.status == 413
            assert "error" in await resp.json()
        assert await redis_snapshot(server.conn.redis) == before
    finally:
        await server.stop()


async def test_missing_token_is_401(hookstream: Hookstream) -> None:
    """No Authorization header and no qstash_token → 401."""
    async with (
        aiohttp.ClientSession(hookstream.url) as anonymous,
        anonymous.get("/v2/keys") as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {"error": "missing or invalid bearer token"}


async def test_get_message_while_waiting_then_kept_once_delivered(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A delayed message is visible with the fields the SDKs read; once delivered it stays
    readable without its body (HOOKSTREAM_DELIVERED_RETENTION; with 0 it is gone at once,
    test_retention.py)."""
    assert hookstream.http is not None
    await hookstream.stop_worker()  # nothing is delivered before the message is read back
    answer = await hookstream.publish(
        sink.url("/later"),
        "hi",
        **{"Upstash-Delay": "1s", "Upstash-Label": "l1", "Content-Type": "text/plain"},
    )
    async with hookstream.http.get(f"/v2/messages/{answer['messageId']}") as resp:
        assert resp.status == 200
        message = await resp.json()
    assert message["messageId"] == answer["messageId"]
    assert message["url"] == sink.url("/later")
    assert message["method"] == "POST"
    assert message["body"] == "hi"
    assert message["maxRetries"] == 3
    assert message["notBefore"] >= message["createdAt"] + 1000
    assert message["header"] == {"Content-Type": ["text/plain"]}
    assert message["label"] == "l1"
    await hookstream.start_worker()
    await sink.wait_for(1)

    async def delivered() -> bool:
        return (await events_of(hookstream, answer["messageId"]))[-1:] == ["DELIVERED"]

    await eventually(delivered)
    code, kept = await api(hookstream, "GET", f"/v2/messages/{answer['messageId']}")
    assert code == 200
    assert {k: v for k, v in message.items() if k != "body"} == kept


async def test_unknown_message_is_404(hookstream: Hookstream) -> None:
    """Unknown and malformed ids are 404 with a JSON error."""
    assert hookstream.http is not None
    for message_id in ("msg_0_NOPE", "garbage"):
        async with hookstream.http.get(f"/v2/messages/{message_id}") as resp:
            assert resp.status == 404
            assert "not found" in (await resp.json())["error"]


@pytest.mark.cluster
async def test_rotate_keys(hookstream: Hookstream) -> None:
    """Rotation makes next the current key and generates a fresh next."""
    assert hookstream.http is not None
    async with hookstream.http.get("/v2/keys") as resp:
        before = await resp.json()
    async with hookstream.http.post("/v2/keys/rotate") as resp:
        after = await resp.json()
    assert after["current"] == before["next"]
    assert after["next"] not in (before["current"], before["next"])
    assert after["next"].startswith("sig_")
    assert len(after["next"]) == 32


async def test_health_endpoints(hookstream: Hookstream) -> None:
    """/healthz, /readyz and /metrics answer without a token."""
    async with aiohttp.ClientSession(hookstream.url) as anonymous:
        async with anonymous.get("/healthz") as resp:
            assert resp.status == 200
        async with anonymous.get("/readyz") as resp:
            assert (await resp.json())["status"] == "ready"
        async with anonymous.get("/metrics") as resp:
            assert "hookstream_http_requests_total" in await resp.text()


@pytest.mark.cluster
async def test_v2_readiness(hookstream: Hookstream) -> None:
    """GET /v2/readiness answers {"ready": true}, as QStash; it is an API path, so it wants
    the token (no SDK calls it; /readyz is the open probe)."""
    assert await api(hookstream, "GET", "/v2/readiness") == (200, {"ready": True})
    async with (
        aiohttp.ClientSession(hookstream.url) as anonymous,
        anonymous.get("/v2/readiness") as resp,
    ):
        assert resp.status == 401


@pytest.mark.cluster
async def test_delivery_right_after_rotation_uses_the_new_key(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A message published right after POST /v2/keys/rotate verifies with the new key pair."""

    async def worker_follows_rotations() -> bool:
        return await rotation_followers(hookstream) == 1

    await eventually(worker_follows_rotations)
    code, _ = await api(hookstream, "POST", "/v2/keys/rotate")
    assert code == 200
    await hookstream.publish(sink.url("/after"), "x")
    (received,) = await sink.wait_for(1)
    await verify_signature(hookstream, received, sink.url("/after"))


async def test_scripts_reload_after_redis_forgets_them(hookstream: Hookstream, sink: Sink) -> None:
    """After SCRIPT FLUSH (as after a Redis restart), publishing and delivering still work."""
    await hookstream.conn.redis.script_flush()
    await hookstream.publish(sink.url("/again"), "x")
    (received,) = await sink.wait_for(1)
    assert received.body == b"x"
