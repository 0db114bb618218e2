"""The official SDKs, pointed at hookstream, publish and verify exactly as against QStash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qstash import AsyncQStash, QStash, Receiver
from qstash.errors import RateLimitExceededError

from broker.settings import RateLimit
from tests.conftest import require_tool
from tests.support.api import api, eventually, status, verify_signature
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration
SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"


async def _keys(hookstream: Hookstream) -> dict[str, str]:
    assert hookstream.http is not None
    async with hookstream.http.get("/v2/keys") as resp:
        return await resp.json()  # type: ignore[no-any-return]


async def test_python_sync_client(hookstream: Hookstream, sink: Sink) -> None:
    """QStash(...).message.publish_json → delivered, signed, readable while delayed."""
    client = QStash(TEST_TOKEN, base_url=hookstream.url)
    url = sink.url("/py-sync")
    result = await asyncio.to_thread(
        client.message.publish_json, url=url, body={"n": 1}, headers={"X-Custom": "v"}, retries=1
    )
    client.http._client.close()  # the SDK offers no close(); its httpx client holds a socket
    (received,) = await sink.wait_for(1)
    assert received.headers["Upstash-Message-Id"] == result.message_id
    assert json.loads(received.body) == {"n": 1}
    assert received.headers["X-Custom"] == "v"
    await verify_signature(hookstream, received, url)


async def test_python_async_client(hookstream: Hookstream, sink: Sink) -> None:
    """AsyncQStash publishes; message.get reads the delayed message back; keys match."""
    await hookstream.stop_worker()  # nothing is delivered before the message is read back
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    url = sink.url("/py-async")
    result = await client.message.publish(
        url=url, body="text body", delay="1s", content_type="text/plain"
    )
    message = await client.message.get(result.message_id)
    assert message.message_id == result.message_id
    assert message.url == url
    assert message.body == "text body"
    assert message.not_before > message.created_at
    keys = await client.signing_key.get()
    await client.http._client.aclose()
    await hookstream.start_worker()
    (received,) = await sink.wait_for(1)
    assert received.headers["Content-Type"] == "text/plain"
    receiver = Receiver(current_signing_key=keys.current, next_signing_key=keys.next)
    receiver.verify(signature=received.headers["Upstash-Signature"], body="text body", url=url)


def _node(
    args: list[str], hookstream: Hookstream, keys: dict[str, str], stdin: str = ""
) -> dict[str, object]:
    env = os.environ | {
        "QSTASH_URL": hookstream.url,
        "QSTASH_TOKEN": TEST_TOKEN,
        "QSTASH_CURRENT_SIGNING_KEY": keys["current"],
        "QSTASH_NEXT_SIGNING_KEY": keys["next"],
    }
    env.pop("QSTASH_DEV", None)
    done = subprocess.run(
        ["node", "publish_and_verify.mjs", *args],
        cwd=SDK_DIR, env=env, input=stdin, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


async def test_typescript_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """@upstash/qstash publishJSON → delivered; its Receiver verifies the signature."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    if not (SDK_DIR / "node_modules" / "@upstash" / "qstash").exists():
        pytest.fail("tests/sdk/node_modules is missing: run `make test` (it runs npm ci there)")
    keys = await _keys(hookstream)
    url = sink.url("/ts")
    answer = await asyncio.to_thread(_node, ["publish", url, '{"from":"ts"}'], hookstream, keys)
    (received,) = await sink.wait_for(1)
    assert received.headers["Upstash-Message-Id"] == answer["messageId"]
    assert received.headers["X-From-Ts"] == "yes"
    assert json.loads(received.body) == {"from": "ts"}
    payload = json.dumps(
        {
            "signature": received.headers["Upstash-Signature"],
            "body": received.body.decode(),
            "url": url,
        }
    )
    verdict = await asyncio.to_thread(_node, ["verify"], hookstream, keys, payload)
    assert verdict == {"valid": True}
    await verify_signature(hookstream, received, url)


async def test_typescript_sdk_messages_and_logs(hookstream: Hookstream, sink: Sink) -> None:
    """messages.get/cancel (JSON {cancelled}) and logs with a messageId filter, from TypeScript."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = await _keys(hookstream)
    result = await asyncio.to_thread(_node, ["messages", sink.url("/ts")], hookstream, keys)
    assert result["message"]["messageId"] == result["messageId"]  # type: ignore[index]
    assert result["cancelled"] == {"cancelled": 1}
    assert result["states"] == ["CANCELED", "CANCEL_REQUESTED", "CREATED"]
    assert sink.received == []


async def test_typescript_sdk_dlq(hookstream: Hookstream, sink: Sink) -> None:
    """dlq.listMessages, retry (query form) and delete (query form) from TypeScript."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    sink.respond = status(500)
    for index in range(3):
        await hookstream.publish(sink.url("/down"), str(index), **{"Upstash-Retries": "0"})

    async def all_dead() -> bool:
        return len((await api(hookstream, "GET", "/v2/dlq"))[1]["messages"]) == 3

    await eventually(all_dead)
    sink.respond = status(200)
    keys = await _keys(hookstream)
    result = await asyncio.to_thread(_node, ["dlq"], hookstream, keys)
    assert len(result["listed"]) == 3  # type: ignore[arg-type]
    assert len(result["retried"]["responses"]) == 1  # type: ignore[index]
    assert result["deleted"] == {"deleted": 2}
    assert result["left"] == []
    await sink.wait_for(4)


async def test_typescript_sdk_routing(hookstream: Hookstream, sink: Sink) -> None:
    """urlGroups, queue().enqueueJSON, batchJSON and flowControl.get from TypeScript."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = await _keys(hookstream)
    result = await asyncio.to_thread(_node, ["routing", sink.url("")], hookstream, keys)
    group, fan_out, batch = result["group"], result["fanOut"], result["batch"]
    assert [e["url"] for e in group["endpoints"]] == [sink.url("/g1"), sink.url("/g2")]  # type: ignore[index]
    assert [m["url"] for m in fan_out] == [sink.url("/g1"), sink.url("/g2")]  # type: ignore[union-attr]
    assert result["queueInfo"]["name"] == "ts-queue"  # type: ignore[index]
    assert "messageId" in result["enqueued"]  # type: ignore[operator]
    assert len(batch) == 2  # type: ignore[arg-type]
    assert isinstance(batch[1], list)  # type: ignore[index]
    flow = result["flow"]
    assert (
        flow["flowControlKey"],
        flow["parallelismMax"],
        flow["rateMax"],
        flow["ratePeriod"],
    ) == (  # type: ignore[index]
        "ts-flow",
        2,
        5,
        10,
    )
    received = await sink.wait_for(7)
    assert sorted(r.path for r in received) == ["/b1", "/fc", "/g1", "/g1", "/g2", "/g2", "/q"]


async def test_typescript_sdk_schedules(hookstream: Hookstream, sink: Sink) -> None:
    """schedules.create/get/pause/resume/list/delete from TypeScript (PATCH pause/resume)."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = await _keys(hookstream)
    result = await asyncio.to_thread(_node, ["schedules", sink.url("/daily")], hookstream, keys)
    created = result["created"]
    assert result["scheduleId"] == "ts-daily"
    assert (created["cron"], created["destination"], created["retries"]) == (  # type: ignore[index]
        "0 4 * * *",
        sink.url("/daily"),
        2,
    )
    assert created["isPaused"] is False  # type: ignore[index]
    assert result["paused"] is True
    assert [s["scheduleId"] for s in result["listed"]] == ["ts-daily"]  # type: ignore[union-attr]
    assert result["left"] == []


async def test_redacted_fields_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """redact={"body", "header": ["Authorization"]}: the API shows hashes, delivery the values."""
    await hookstream.stop_worker()  # nothing is delivered before the message is read back
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        result = await client.message.publish(
            url=sink.url("/secret"),
            body="card=4242",
            headers={"Authorization": "Bearer s3cret", "X-Plain": "visible"},
            delay="1s",
            redact={"body": True, "header": ["Authorization"]},
        )
        message = await client.message.get(result.message_id)
    finally:
        await client.http._client.aclose()
    assert message.body == "REDACTED:" + hashlib.sha256(b"card=4242").hexdigest()
    assert message.headers is not None
    assert message.headers["Authorization"] == [
        "REDACTED:" + hashlib.sha256(b"Bearer s3cret").hexdigest()
    ]
    assert message.headers["X-Plain"] == ["visible"]
    await hookstream.start_worker()
    (received,) = await sink.wait_for(1)
    assert received.body == b"card=4242"
    assert received.headers["Authorization"] == "Bearer s3cret"


@pytest.fixture(name="limited")
async def _limited(redis_url: str) -> AsyncIterator[Hookstream]:
    """A production-mode ingress (dev mode never limits) allowing 2 calls per minute."""
    server = Hookstream(
        redis_url, with_worker=False, dev=False, rate_limit=RateLimit(2, window_ms=60_000)
    )
    yield await server.start()
    await server.stop()


async def test_python_sdk_raises_its_rate_limit_error(limited: Hookstream) -> None:
    """Over the limit, the Python SDK raises RateLimitExceededError (the burst limit, not the
    daily quota) with the limit, remaining and reset it read from Burst-RateLimit-*."""
    client = AsyncQStash(TEST_TOKEN, base_url=limited.url, retry=False)
    try:
        for _ in range(2):
            await client.queue.list()
        with pytest.raises(RateLimitExceededError) as raised:
            await client.queue.list()
    finally:
        await client.http._client.aclose()
    error = raised.value
    assert (error.limit, error.remaining) == ("2", "0")
    assert error.reset is not None
    assert time.time() < int(error.reset) <= time.time() + 61


async def test_typescript_sdk_raises_its_rate_limit_error(limited: Hookstream) -> None:
    """Over the limit, @upstash/qstash throws QstashRatelimitError (not the daily or chat one)
    with limit, remaining and reset from Burst-RateLimit-*."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = {"current": "", "next": ""}
    result = await asyncio.to_thread(_node, ["ratelimit", "5"], limited, keys)
    assert (result["call"], result["name"]) == (3, "QstashRatelimitError")
    assert (result["limit"], result["remaining"]) == ("2", "0")
    assert time.time() < int(str(result["reset"])) <= time.time() + 61
