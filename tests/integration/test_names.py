"""Name rules over HTTP: every way a name enters applies the one table in broker/queue/names.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from broker.queue.keys import LAYOUT
from tests.support.api import api
from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.integration

LONG = "n" * 200  # within the old schedule rule `[A-Za-z0-9._-]+`, over the 128 of queues


@pytest.fixture
async def ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """The API alone: nothing is delivered, so Redis holds only what the API wrote."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


async def _written(hookstream: Hookstream) -> list[bytes]:
    """Every key but those the ingress creates at start (signing keys, layout, streams)."""
    keys = await hookstream.conn.redis.keys("*")
    started = (b"{hs:global}:signing-keys", LAYOUT.encode())
    return sorted(k for k in keys if k not in started and not k.endswith(b":ready"))


@pytest.mark.parametrize(
    ("destination", "header", "value", "field"),
    [
        ("https://h.io", "Upstash-Queue-Name", LONG, "Upstash-Queue-Name"),
        ("https://h.io", "Upstash-Schedule-Id", LONG, "Upstash-Schedule-Id"),
        (LONG, None, None, "destination"),
        ("https://h.io", "Upstash-Flow-Control-Key", "tenant:1", "Upstash-Flow-Control-Key"),
    ],
)
async def test_schedule_refuses_names_that_enqueue_and_groups_refuse(
    ingress: Hookstream, destination: str, header: str | None, value: str | None, field: str
) -> None:
    """A 200-character queue name, schedule id or URL-group destination is a 400 naming the
    field, and nothing is written: the same rule as enqueue and URL groups."""
    headers = {"Upstash-Cron": "0 0 * * *", **({header: value} if header and value else {})}
    status, body = await api(ingress, "POST", f"/v2/schedules/{destination}", headers=headers)
    assert status == 400, body
    assert body["error"].startswith(f"invalid {field}")
    assert await _written(ingress) == []


async def test_the_same_long_name_is_refused_everywhere(ingress: Hookstream) -> None:
    """Queue upsert, enqueue, URL-group endpoints and publish to a group agree with schedules."""
    calls = [
        ("POST", "/v2/queues", {"json": {"queueName": LONG, "parallelism": 1}}),
        ("POST", f"/v2/enqueue/{LONG}/https://h.io", {"data": "x"}),
        (
            "POST",
            f"/v2/topics/{LONG}/endpoints",
            {"json": {"endpoints": [{"url": "https://h.io"}]}},
        ),
        ("POST", f"/v2/publish/{LONG}", {"data": "x"}),
    ]
    for method, path, kwargs in calls:
        status, body = await api(ingress, method, path, **kwargs)
        assert (status, "128" in body["error"]) == (400, True), path
    assert await _written(ingress) == []


async def test_endpoint_names_follow_the_rule(ingress: Hookstream) -> None:
    """An endpoint name with a space is a 400; a valid one is stored as given."""
    path = "/v2/topics/team/endpoints"
    bad = {"endpoints": [{"url": "https://h.io/a", "name": "first one"}]}
    status, body = await api(ingress, "POST", path, json=bad)
    assert (status, body["error"].startswith("invalid endpoint name")) == (400, True)
    good = {"endpoints": [{"url": "https://h.io/a", "name": "first.one"}]}
    assert (await api(ingress, "POST", path, json=good))[0] == 200
    _, group = await api(ingress, "GET", "/v2/topics/team")
    assert group["endpoints"] == [{"url": "https://h.io/a", "name": "first.one"}]


async def test_flow_control_keys_and_labels_the_sdks_send_are_accepted(
    ingress: Hookstream,
) -> None:
    """A key with '@' and '.', labels with ':' and an inner space pass (empty labels between
    commas are dropped), and the key can be looked up by the path the SDKs build."""
    headers = {
        "Upstash-Flow-Control-Key": "user@example.com",
        "Upstash-Flow-Control-Value": "parallelism=1",
        "Upstash-Label": "env:prod, nightly report,,",
        "Upstash-Delay": "1h",
    }
    status, answer = await api(
        ingress, "POST", "/v2/publish/https://h.io", data="x", headers=headers
    )
    assert status == 201, answer
    _, message = await api(ingress, "GET", f"/v2/messages/{answer['messageId']}")
    assert message["flowControlKey"] == "user@example.com"
    assert message["labels"] == ["env:prod", "nightly report"]
    assert (await api(ingress, "GET", "/v2/flowControl/user@example.com"))[0] == 200


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Upstash-Flow-Control-Key": "tenant:1"}, "Upstash-Flow-Control-Key"),
        ({"Upstash-Flow-Control-Key": "a/b"}, "Upstash-Flow-Control-Key"),
        ({"Upstash-Flow-Control-Key": "k" * 257}, "Upstash-Flow-Control-Key"),
        ({"Upstash-Label": "l" * 257}, "Upstash-Label"),
    ],
)
async def test_publish_refuses_keys_and_labels_outside_the_rule(
    ingress: Hookstream, headers: dict[str, str], field: str
) -> None:
    """A flow-control key with a key separator or a '/', or an overlong key or label, is a 400
    naming the header, and no message is stored."""
    status, body = await api(ingress, "POST", "/v2/publish/https://h.io", data="x", headers=headers)
    assert (status, body["error"].split(" ")[:2]) == (400, ["invalid", field])
    assert await _written(ingress) == []
