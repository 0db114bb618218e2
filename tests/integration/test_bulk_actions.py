"""Bulk cancel and DLQ bulk delete/retry never widen to "everything" by mistake: an empty id
list in the query, an unknown key, an unknown or empty filter field, an empty body is a 400
naming the field, and nothing changes. The SDKs' explicit "all" forms keep working, run here
by the SDKs themselves (the plain id and filter forms: test_callbacks_cancel_events.py and
test_retries.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from qstash import AsyncQStash

from tests.conftest import require_tool
from tests.integration.test_sdks import _keys, _node
from tests.support.api import api, events_of, eventually, status
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration

# (query string, JSON body or None, what the error must name)
NARROWING_MISTAKES: list[tuple[str, Any, str]] = [
    ("?{ids}=", None, "{ids} is empty"),
    ("?{ids}=,", None, "{ids} is empty"),
    ("?label=", None, "label is empty"),
    ("?labeel=x", None, "unknown parameter 'labeel'"),
    ("?labeel=x&count=100", None, "unknown parameter 'labeel'"),
    ("", {"ids": ["x"]}, "unknown field 'ids'"),
    ("", {"filter": {"labeel": "x"}}, "unknown field 'labeel'"),
    ("", {"filter": {}}, "filter must be an object"),
    ("", {"filter": {"label": ""}}, "label is empty"),
    ("", {"label": []}, "label is empty"),
    ("", {"label": None}, "label must be a string"),
    ("", {}, "the body selects nothing"),
    ("", {"{ids}": "x", "count": 1}, "unknown field 'count'"),
    ("?label=a", {"{ids}": ["x"]}, "not both"),
]


def _request(query: str, body: Any, ids: str) -> tuple[str, dict[str, Any]]:
    if body is None:
        return query.format(ids=ids), {}
    return query, {"json": {k.format(ids=ids): v for k, v in body.items()}}


async def _all_refused(server: Hookstream, method: str, path: str, ids: str) -> None:
    """Every mistake is tried, and every one not refused is listed, so a run on a server that
    widens shows each case it got wrong."""
    wrong = []
    for query, body, named in NARROWING_MISTAKES:
        suffix, kwargs = _request(query, body, ids)
        before = await redis_snapshot(server.conn.redis)
        code, answer = await api(server, method, path + suffix, **kwargs)
        changed = await redis_snapshot(server.conn.redis) != before
        if code != 400 or named.format(ids=ids) not in answer["error"] or changed:
            wrong.append((f"{method} {path}{suffix} {kwargs}", code, answer, changed))
    assert wrong == []


@dataclass(frozen=True)
class Loaded:
    """A server (worker stopped, so nothing moves) holding three DLQ entries labelled x, y
    and z, oldest first, and three messages delayed by an hour labelled a, a and b."""

    server: Hookstream
    dlq_ids: list[str]
    message_ids: list[str]


@pytest.fixture
async def loaded(redis_url: str, sink: Sink) -> AsyncIterator[Loaded]:
    server = await Hookstream(redis_url).start()
    sink.respond = status(500)
    for label in "xyz":
        await server.publish(sink.url(), label, Upstash_Retries="0", Upstash_Label=label)

    async def listed() -> bool:
        return len((await api(server, "GET", "/v2/dlq"))[1]["messages"]) == 3

    await eventually(listed)
    await server.stop_worker()
    _, dlq = await api(server, "GET", "/v2/dlq", params={"order": "earliestFirst"})
    waiting = [
        await server.publish(sink.url(), "x", Upstash_Delay="1h", Upstash_Label=label)
        for label in "aab"
    ]
    yield Loaded(server, [m["dlqId"] for m in dlq["messages"]], [m["messageId"] for m in waiting])
    await server.stop()


async def test_bulk_cancel_refuses_what_would_widen(loaded: Loaded) -> None:
    await _all_refused(loaded.server, "DELETE", "/v2/messages", "messageIds")
    code, answer = await api(loaded.server, "DELETE", "/v2/messages?dlqIds=x")
    assert code == 400
    assert "unknown parameter 'dlqIds'" in answer["error"]


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/v2/dlq"), ("POST", "/v2/dlq/retry")])
async def test_dlq_bulk_refuses_what_would_widen(loaded: Loaded, method: str, path: str) -> None:
    await _all_refused(loaded.server, method, path, "dlqIds")


async def test_python_sdk_bulk_forms(loaded: Loaded) -> None:
    """message.cancel_many([]) / cancel_many(ids) / cancel_all, dlq.delete_many([]) / (ids)."""
    client = AsyncQStash(TEST_TOKEN, base_url=loaded.server.url)
    try:
        assert await client.message.cancel_many([]) == 0
        assert await client.message.cancel_many(loaded.message_ids[:1]) == 1
        assert await client.message.cancel_all() == 2
        assert await client.dlq.delete_many([]) == 0
        assert await client.dlq.delete_many(loaded.dlq_ids[:2]) == 2
    finally:
        await client.http._client.aclose()


async def test_typescript_sdk_bulk_forms(loaded: Loaded) -> None:
    """cancel([]), cancel({filter}), cancel({all: true}); dlq.delete({filter}),
    dlq.retry({all: true, count: 1}) paging by cursor, dlq.delete({all: true})."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    server, keys = loaded.server, await _keys(loaded.server)
    ran = await asyncio.to_thread(_node, ["messages"], server, keys, script="bulk_actions.mjs")
    assert ran == {"none": {"cancelled": 0}, "byFilter": {"cancelled": 2}, "all": {"cancelled": 1}}
    ran = await asyncio.to_thread(_node, ["dlq"], server, keys, script="bulk_actions.mjs")
    assert ran["byFilter"] == {"deleted": 1}
    assert len(ran["first"]["responses"]) == 1  # type: ignore[index]
    assert "cursor" in ran["first"]  # type: ignore[operator]
    assert len(ran["second"]["responses"]) == 1  # type: ignore[index]
    assert ran["all"] == {"deleted": 0}
    assert ran["left"] == []


# Delayed by an hour, so only a cancel moves them: name → (URL, flow-control key or None).
TARGETS = {
    "a": ("http://127.0.0.1:9/a/x", "k1"),
    "b": ("http://127.0.0.1:9/b", "k2"),
    "c": ("https://Example.COM/a/x", "k1"),
    "d": ("https://other.example:8443", None),
}
# messages.cancel(request) → the targets it cancels. Values of one field OR, fields AND;
# `count` is deprecated in the SDK and ignored by QStash: a bulk cancel takes every match.
CANCEL_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"filter": {"host": "127.0.0.1"}}, "ab"),
    ({"filter": {"host": ["example.com", "other.example:8443"]}}, "cd"),
    ({"filter": {"path": "/a/x"}}, "ac"),
    ({"filter": {"path": ["/b", "/"]}}, "bd"),
    ({"filter": {"host": "127.0.0.1:9", "path": "/a/x"}}, "a"),
    ({"filter": {"flowControlKey": "k1"}}, "ac"),
    ({"filter": {"flowControlKey": ["k1", "k2"]}}, "abc"),
    ({"filter": {"flowControlKey": ["k1", "k2"], "host": "127.0.0.1"}}, "ab"),
    ({"filter": {"flowControlKey": "k1"}, "count": 1}, "ac"),
    ({"all": True, "count": 1}, "abcd"),
]


async def _publish_targets(server: Hookstream) -> dict[str, str]:
    ids = {}
    for name, (url, key) in TARGETS.items():
        flow = {"Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": "parallelism=1"}
        headers = {"Upstash-Delay": "1h", **(flow if key else {})}
        ids[name] = (await server.publish(url, name, **headers))["messageId"]
    return ids


@pytest.mark.parametrize(("request_", "names"), CANCEL_FILTERS, ids=lambda v: json.dumps(v))
async def test_typescript_sdk_cancel_filters_and_count(
    hookstream: Hookstream, request_: dict[str, Any], names: str
) -> None:
    """messages.cancel with host, path and flowControlKey filters, one value or several, and
    with `count`: it answers {cancelled: n}, the matches are gone at once (CANCELED: they were
    waiting), the others still wait."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    await hookstream.stop_worker()
    ids = await _publish_targets(hookstream)
    keys = await _keys(hookstream)
    ran = await asyncio.to_thread(
        _node, ["cancel", json.dumps(request_)], hookstream, keys, script="bulk_actions.mjs"
    )
    assert ran == {"cancelled": len(names)}
    codes = {n: (await api(hookstream, "GET", f"/v2/messages/{i}"))[0] for n, i in ids.items()}
    assert codes == {n: 404 if n in names else 200 for n in TARGETS}
    for name in names:
        assert (await events_of(hookstream, ids[name]))[-1] == "CANCELED"


async def _delayed_pair(server: Hookstream, url: str, key: str) -> list[str]:
    """Two messages delayed by an hour sharing one flow-control key, and one of another key."""
    ids = []
    for flow_key in (key, key, "other"):
        headers = {"Upstash-Flow-Control-Key": flow_key, "Upstash-Flow-Control-Value": "rate=1"}
        ids.append((await server.publish(url, "x", Upstash_Delay="1h", **headers))["messageId"])
    return ids


async def test_typescript_sdk_cancels_every_delayed_message_of_a_flow_key(
    hookstream: Hookstream, sink: Sink
) -> None:
    """With the worker running: cancel({filter: {flowControlKey}}) cancels both delayed
    messages of the key, none is delivered before its delay, the other key's one waits on."""
    require_tool("node", "the TypeScript SDK test runs on Node.js")
    first, second, other = await _delayed_pair(hookstream, sink.url(), "shared")
    await asyncio.sleep(0.5)  # time for a worker to (wrongly) take a delayed message
    request_ = json.dumps({"filter": {"flowControlKey": "shared"}})
    keys = await _keys(hookstream)
    ran = await asyncio.to_thread(
        _node, ["cancel", request_], hookstream, keys, script="bulk_actions.mjs"
    )
    assert ran == {"cancelled": 2}
    assert [(await events_of(hookstream, i))[-1] for i in (first, second)] == ["CANCELED"] * 2
    assert (await api(hookstream, "GET", f"/v2/messages/{other}"))[0] == 200
    assert sink.received == []


async def test_python_sdk_cancel_all_takes_delayed_flow_controlled_messages(
    hookstream: Hookstream, sink: Sink
) -> None:
    """message.publish(delay, flow_control) twice with one key, then cancel_all() == 2, and
    nothing reaches the destination."""
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    flow: Any = {"key": "py-delayed", "parallelism": 1}
    try:
        for body in ("1", "2"):
            await client.message.publish(url=sink.url(), body=body, delay="1h", flow_control=flow)
        await asyncio.sleep(0.5)  # time for a worker to (wrongly) take a delayed message
        assert await client.message.cancel_all() == 2
    finally:
        await client.http._client.aclose()
    assert sink.received == []
