"""The destination policy end to end: the ingress refuses denied literal addresses at every
entry point that names a URL (writing nothing), and the worker refuses at connect time what
got past it, dead-lettering the message as `rejected` without a retry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.metrics import DELIVERIES
from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.support.state import refused_unchanged

pytestmark = pytest.mark.integration
PRIVATE = "http://10.1.2.3/hook"
METADATA = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture
async def strict(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress with the production policy (not dev): private and loopback denied."""
    server = await Hookstream(redis_url, with_worker=False, dev=False).start()
    yield server
    await server.stop()


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", f"/v2/publish/{PRIVATE}", {}),
        ("POST", f"/v2/enqueue/q1/{PRIVATE}", {}),
        ("POST", f"/v2/schedules/{PRIVATE}", {"Upstash-Cron": "* * * * *"}),
        ("POST", "/v2/publish/https://example.com", {"Upstash-Callback": PRIVATE}),
        ("POST", "/v2/publish/https://example.com", {"Upstash-Failure-Callback": PRIVATE}),
    ],
)
async def test_ingress_refuses_private_destinations(
    strict: Hookstream, method: str, path: str, headers: dict[str, str]
) -> None:
    """Publish, enqueue, schedules and both callbacks: 400 naming the class and the setting."""
    error = await refused_unchanged(strict, method, path, headers=headers)
    assert "10.1.2.3 is a private address" in error
    assert "HOOKSTREAM_ALLOWED_DESTINATIONS" in error


async def test_batch_and_url_groups_are_checked_too(strict: Hookstream) -> None:
    """A batch item and a URL-group endpoint with a loopback URL are refused, writing nothing."""
    batch = [{"destination": "https://example.com"}, {"destination": "http://127.0.0.1:9/x"}]
    assert "loopback" in await refused_unchanged(strict, "POST", "/v2/batch", json=batch)
    endpoints = {"endpoints": [{"url": "http://[::1]:9/x"}]}
    path = "/v2/topics/g/endpoints"
    assert "loopback" in await refused_unchanged(strict, "POST", path, json=endpoints)


async def test_an_allow_list_opens_a_range(redis_url: str) -> None:
    """HOOKSTREAM_ALLOWED_DESTINATIONS lets an in-cluster range through."""
    server = await Hookstream(
        redis_url, with_worker=False, dev=False, allowed_destinations="10.0.0.0/8"
    ).start()
    try:
        status, body = await api(server, "POST", f"/v2/publish/{PRIVATE}")
        assert status == 201, body
    finally:
        await server.stop()


async def test_dev_still_refuses_metadata(redis_url: str) -> None:
    """`hookstream dev` allows loopback and private receivers, never the metadata address."""
    server = await Hookstream(redis_url, with_worker=False).start()
    try:
        error = await refused_unchanged(server, "POST", f"/v2/publish/{METADATA}")
        assert "169.254.169.254" in error
    finally:
        await server.stop()


async def test_worker_dead_letters_a_refused_delivery(redis_url: str, sink: Sink) -> None:
    """A stored message whose destination the worker's policy refuses is never sent: it goes
    to the DLQ at the first attempt, with the reason, as a `rejected` delivery."""
    dev = await Hookstream(redis_url, with_worker=False).start()
    strict = await Hookstream(redis_url, dev=False).start()  # its worker takes the message
    try:
        before = DELIVERIES.labels("rejected", "none").value
        published = await dev.publish(sink.url("/never"), "x", Upstash_Retries="3")
        message_id = published["messageId"]

        async def dead_lettered() -> bool:
            _, body = await api(dev, "GET", "/v2/dlq")
            return any(m["messageId"] == message_id for m in body["messages"])

        await eventually(dead_lettered, timeout=15)
        _, body = await api(dev, "GET", "/v2/dlq")
        (entry,) = [m for m in body["messages"] if m["messageId"] == message_id]
        assert entry["error"].startswith("destination refused: destination 127.0.0.1 is a loopback")
        assert sink.received == []
        assert DELIVERIES.labels("rejected", "none").value == before + 1
        _, events = await api(dev, "GET", "/v2/events", params={"messageId": message_id})
        states = sorted(e["state"] for e in events["events"])
        assert states == ["ACTIVE", "CREATED", "ERROR", "FAILED"]
    finally:
        await strict.stop()
        await dev.stop()
