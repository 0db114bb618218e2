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
from qstash.errors import QStashError, RateLimitExceededError
from qstash.log import LogState
from qstash.message import FlowControlProperties
from qstash.schedule import ScheduleState

from broker.settings import RateLimit
from tests.conftest import require_tool
from tests.support.api import api, events_of, eventually, status, verify_signature
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


async def test_python_sdk_reads_a_delivered_message(hookstream: Hookstream, sink: Sink) -> None:
    """message.get right after delivery answers the message (url, label; no body kept), the
    log says DELIVERED, and cancelling it is a 404: it is final."""
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        result = await client.message.publish(url=sink.url("/done"), body="payload", label="l1")
        await sink.wait_for(1)

        async def logged_delivered() -> bool:
            wanted = {"message_id": result.message_id, "state": LogState.DELIVERED}
            return bool((await client.log.list(filter=wanted)).logs)

        await eventually(logged_delivered)
        message = await client.message.get(result.message_id)
        with pytest.raises(QStashError, match="404"):
            await client.message.cancel(result.message_id)
    finally:
        await client.http._client.aclose()
    assert (message.message_id, message.url, message.label) == (
        result.message_id,
        sink.url("/done"),
        "l1",
    )
    assert (message.body, message.body_base64) == (None, None)


async def test_python_sdk_schedule_states_success_once_delivered(
    redis_url: str, sink: Sink
) -> None:
    """lastScheduleStates turns SUCCESS when the tick's message is delivered (and kept as
    DELIVERED), as schedule.get reads it."""
    server = await Hookstream(redis_url, with_scheduler=True, second_field_crons=True).start()
    client = AsyncQStash(TEST_TOKEN, base_url=server.url)
    try:
        schedule_id = await client.schedule.create(
            destination=sink.url("/tick"), cron="* * * * * *"
        )
        await sink.wait_for(1, timeout=15)
        await client.schedule.pause(schedule_id)

        async def all_succeeded() -> bool:
            states = (await client.schedule.get(schedule_id)).last_schedule_states or {}
            return bool(states) and set(states.values()) == {ScheduleState.SUCCESS}

        await eventually(all_succeeded)
    finally:
        await client.http._client.aclose()
        await server.stop()


async def test_python_sdk_schedule_keys_only_for_what_is_set(hookstream: Hookstream) -> None:
    """schedule.get/list: no body, headers, timeout or flow control unless the schedule sets
    them; flow control reads back as FlowControlProperties (period in seconds)."""
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        bare_id = await client.schedule.create(
            destination="https://example.com/a", cron="0 4 * * *"
        )
        flow_id = await client.schedule.create(
            destination="https://example.com/b",
            cron="0 4 * * *",
            body="hi",
            timeout=10,
            flow_control={"key": "py-sched-flow", "parallelism": 2, "rate": 5, "period": "1m"},
        )
        bare, flow = [await client.schedule.get(i) for i in (bare_id, flow_id)]
        listed = {s.schedule_id: s for s in await client.schedule.list()}
    finally:
        await client.http._client.aclose()
    assert (bare.body, bare.body_base64, bare.headers, bare.timeout, bare.flow_control) == (
        (None,) * 5
    )
    assert (bare.callback_headers, bare.delay, bare.label) == (None, None, None)
    assert flow.flow_control == FlowControlProperties(
        key="py-sched-flow", parallelism=2, rate=5, period=60
    )
    assert (flow.body, flow.timeout) == ("hi", 10)
    assert listed == {bare_id: bare, flow_id: flow}


async def test_python_sdk_logs_show_flow_control_and_the_response(
    hookstream: Hookstream, sink: Sink
) -> None:
    """log.list: every event of a flow-controlled message carries the key with its limits,
    and an ERROR event the destination's answer headers (Log.response_headers)."""
    sink.respond = status(500, "down", headers={"X-Reason": "maintenance"})
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    flow = {"key": "py-log-flow", "parallelism": 2, "rate": 5, "period": 10}
    try:
        result = await client.message.publish(
            url=sink.url("/fc"), body="x", retries=0, flow_control=flow
        )

        async def failed() -> bool:
            return (await events_of(hookstream, result.message_id))[-1:] == ["FAILED"]

        await eventually(failed)
        logs = (await client.log.list(filter={"message_id": result.message_id})).logs
    finally:
        await client.http._client.aclose()
    expected = FlowControlProperties(key="py-log-flow", parallelism=2, rate=5, period=10)
    assert [log.flow_control for log in logs] == [expected] * len(logs)
    assert len(logs) == 4  # CREATED, ACTIVE, ERROR, FAILED
    (error,) = [log for log in logs if log.state == LogState.ERROR]
    assert error.response_headers is not None
    assert error.response_headers["X-Reason"] == ["maintenance"]


def _node(
    args: list[str],
    hookstream: Hookstream,
    keys: dict[str, str],
    stdin: str = "",
    script: str = "publish_and_verify.mjs",
) -> dict[str, object]:
    env = os.environ | {
        "QSTASH_URL": hookstream.url,
        "QSTASH_TOKEN": TEST_TOKEN,
        "QSTASH_CURRENT_SIGNING_KEY": keys["current"],
        "QSTASH_NEXT_SIGNING_KEY": keys["next"],
    }
    env.pop("QSTASH_DEV", None)
    done = subprocess.run(
        ["node", script, *args],
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


async def test_typescript_sdk_reads_a_delivered_message(hookstream: Hookstream, sink: Sink) -> None:
    """messages.get of a message just delivered answers it (no body kept); cancel is a 404."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = await _keys(hookstream)
    url = sink.url("/ts-done")
    answer = await asyncio.to_thread(_node, ["publish", url, '{"n":1}'], hookstream, keys)
    message_id = str(answer["messageId"])
    await sink.wait_for(1)

    async def delivered() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["DELIVERED"]

    await eventually(delivered)
    result = await asyncio.to_thread(_node, ["delivered", message_id], hookstream, keys)
    message = result["message"]
    assert (message["messageId"], message["url"]) == (message_id, url)  # type: ignore[index]
    assert "body" not in message  # type: ignore[operator]
    assert result["cancelStatus"] == 404


async def test_typescript_sdk_logs_by_host_and_path(hookstream: Hookstream) -> None:
    """logs({filter: {host, path}}): a host matches with or without its port and in any case,
    a missing path is `/`; values of one key OR, keys AND (the Python SDK has no such filter)."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    await hookstream.stop_worker()  # CREATED events are enough; nothing leaves the host
    urls = {
        "a": "http://127.0.0.1:9/a/x",
        "b": "http://127.0.0.1:9/b",
        "c": "https://Example.COM/a/x",
        "d": "https://other.example:8443",
    }
    ids = {name: (await hookstream.publish(url))["messageId"] for name, url in urls.items()}
    keys = await _keys(hookstream)
    cases = [
        ({"host": "127.0.0.1"}, "ab"),
        ({"host": "127.0.0.1:9"}, "ab"),
        ({"host": ["EXAMPLE.com", "other.example:8443"]}, "cd"),
        ({"host": "127.0.0.1", "path": "/a/x"}, "a"),
        ({"path": ["/a/x", "/"]}, "acd"),
    ]
    for wanted, names in cases:
        found = await asyncio.to_thread(_node, ["logs", json.dumps(wanted)], hookstream, keys)
        assert sorted(found["ids"]) == sorted(ids[n] for n in names), wanted  # type: ignore[arg-type]


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


async def test_typescript_sdk_schedule_keys_only_for_what_is_set(hookstream: Hookstream) -> None:
    """schedules.get/list from TypeScript: a schedule created without a body has no body key,
    one created with flowControl has flowControlKey, parallelism, rate and period (s)."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    keys = await _keys(hookstream)
    result = await asyncio.to_thread(
        _node, ["schedule-keys", "https://example.com/ts"], hookstream, keys
    )
    bare, flow = result["bare"], result["flow"]
    assert not {"body", "bodyBase64", "flowControlKey", "timeout"} & set(bare)  # type: ignore[arg-type]
    assert bare["header"] == {"Content-Type": ["application/json"]}  # type: ignore[index]
    shown = {k: flow[k] for k in ("flowControlKey", "parallelism", "rate", "period", "body")}  # type: ignore[index]
    assert shown == {
        "flowControlKey": "ts-sched-flow",
        "parallelism": 2,
        "rate": 5,
        "period": 60,
        "body": "hi",
    }
    assert result["listed"] == [bare, flow]


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
