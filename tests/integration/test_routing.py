"""URL groups (fan-out) and deduplication."""

from __future__ import annotations

import asyncio

import pytest
from qstash import AsyncQStash

from tests.support.api import api, by_path, events_of, eventually, status
from tests.support.barriers import events
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def _group(hookstream: Hookstream, name: str, endpoints: list[dict[str, str]]) -> None:
    code, _ = await api(
        hookstream, "POST", f"/v2/topics/{name}/endpoints", json={"endpoints": endpoints}
    )
    assert code == 200


@pytest.mark.cluster
async def test_fan_out_with_one_failing_endpoint(hookstream: Hookstream, sink: Sink) -> None:
    """Three endpoints: each gets its own message; only the failing one retries and dead-letters."""
    sink.respond = by_path({"/bad": status(500)})
    await _group(
        hookstream,
        "orders",
        [
            {"url": sink.url("/a"), "name": "a"},
            {"url": sink.url("/b")},
            {"url": sink.url("/bad"), "name": "bad"},
        ],
    )
    code, answer = await api(
        hookstream, "POST", "/v2/publish/orders", data="order-1", headers={"Upstash-Retries": "1"}
    )
    assert code == 201
    assert isinstance(answer, list)
    assert [a["url"] for a in answer] == [sink.url("/a"), sink.url("/b"), sink.url("/bad")]
    assert len({a["messageId"] for a in answer}) == 3
    bad_id = answer[2]["messageId"]

    await sink.wait_for(2, path="/bad")

    async def dead() -> bool:
        return (await events_of(hookstream, bad_id))[-1:] == ["FAILED"]

    await eventually(dead)
    assert len([r for r in sink.received if r.path == "/a"]) == 1
    assert len([r for r in sink.received if r.path == "/b"]) == 1
    assert {r.headers["Upstash-Topic-Name"] for r in sink.received} == {"orders"}
    _, dlq = await api(hookstream, "GET", "/v2/dlq", params={"topicName": "orders"})
    assert [(m["messageId"], m["endpointName"]) for m in dlq["messages"]] == [(bad_id, "bad")]
    _, events = await api(
        hookstream, "GET", "/v2/events", params={"topicName": "orders", "state": "DELIVERED"}
    )
    assert {e["endpointName"] for e in events["events"] if "endpointName" in e} == {"a"}


@pytest.mark.cluster
async def test_url_group_api_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """upsert, get, list, remove endpoints, publish to the group, delete."""
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        await client.url_group.delete("sdk-group")  # deleting a missing group is fine
        await client.url_group.upsert_endpoints(
            url_group="sdk-group",
            endpoints=[{"url": sink.url("/1"), "name": "one"}, {"url": sink.url("/2")}],
        )
        group = await client.url_group.get("sdk-group")
        assert [e.url for e in group.endpoints] == [sink.url("/1"), sink.url("/2")]
        assert group.created_at <= group.updated_at
        await client.url_group.remove_endpoints(url_group="sdk-group", endpoints=[{"name": "one"}])
        assert [g.name for g in await client.url_group.list()] == ["sdk-group"]
        published = await client.message.publish_json(url_group="sdk-group", body={"k": 1})
        assert [p.url for p in published] == [sink.url("/2")]
        await sink.wait_for(1, path="/2")
        await client.url_group.delete("sdk-group")
        assert await client.url_group.list() == []
    finally:
        await client.http._client.aclose()


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v2/publish/no-such-group", 404),
        ("/v2/publish/bad name!", 400),
        ("/v2/publish/api/llm", 400),
    ],
)
async def test_bad_group_destinations(hookstream: Hookstream, path: str, code: int) -> None:
    """Unknown groups are 404, invalid names 400; nothing is written."""
    status_code, body = await api(hookstream, "POST", path, data="x")
    assert status_code == code
    assert "error" in body


async def test_endpoint_validation(hookstream: Hookstream) -> None:
    """Endpoints need absolute http(s) URLs; an empty list is refused."""
    for payload in ({"endpoints": []}, {"endpoints": [{"url": "ftp://x"}]}, {"nothing": 1}):
        code, _ = await api(hookstream, "POST", "/v2/topics/g/endpoints", json=payload)
        assert code == 400
    code, _ = await api(hookstream, "GET", "/v2/topics/g")
    assert code == 404


@pytest.mark.cluster
async def test_concurrent_identical_dedup_publishes_deliver_once(
    hookstream: Hookstream, sink: Sink
) -> None:
    """20 concurrent publishes with one Upstash-Deduplication-Id: 201 once and 202s with the
    same id, one message stored (one CREATED event) and delivered once."""
    headers = {"Upstash-Deduplication-Id": "order-42"}
    results = await asyncio.gather(
        *(
            api(hookstream, "POST", f"/v2/publish/{sink.url()}", data="x", headers=headers)
            for _ in range(20)
        )
    )
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [202] * 19
    (message_id,) = {body["messageId"] for _, body in results}
    assert all(body.get("deduplicated") for code, body in results if code == 202)
    assert [e["messageId"] for e in await events(hookstream, state="CREATED")] == [message_id]

    async def delivered() -> bool:
        return (await events_of(hookstream, message_id))[-1:] == ["DELIVERED"]

    await eventually(delivered)
    assert len(sink.received) == 1


@pytest.mark.cluster
async def test_content_based_dedup(hookstream: Hookstream, sink: Sink) -> None:
    """Same destination, body and headers dedupe (Python's `True` spelling); a new body does not."""
    flag = {"Upstash-Content-Based-Deduplication": "True", "Content-Type": "text/plain"}
    first = await api(hookstream, "POST", f"/v2/publish/{sink.url()}", data="same", headers=flag)
    second = await api(hookstream, "POST", f"/v2/publish/{sink.url()}", data="same", headers=flag)
    third = await api(hookstream, "POST", f"/v2/publish/{sink.url()}", data="other", headers=flag)
    assert (first[0], second[0], third[0]) == (201, 202, 201)
    assert second[1]["messageId"] == first[1]["messageId"]
    assert third[1]["messageId"] != first[1]["messageId"]
    bad = await api(hookstream, "POST", f"/v2/publish/{sink.url()}", data="x",
                    headers={"Upstash-Content-Based-Deduplication": "maybe"})  # fmt: skip
    assert bad[0] == 400
    await sink.wait_for(2)
