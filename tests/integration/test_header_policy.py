"""The header policy end to end: the ingress refuses forwarded framing, hop-by-hop and
hookstream-owned headers, and line breaks in any header or URL, at every entry point, writing
nothing; the worker never sends them, not even for a message stored before the policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from broker.queue.model import PublishOptions
from broker.queue.producer import Routing
from broker.queue.publishing import Targets, commit, plan
from tests.support.api import api, events_of, eventually, verify_signature
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from tests.support.state import refused_unchanged

pytestmark = pytest.mark.integration
BODY = b"hello world"


@pytest.fixture
async def ingress(redis_url: str) -> AsyncIterator[Hookstream]:
    """No worker: what is refused is never stored, so nothing could be delivered anyway."""
    server = await Hookstream(redis_url, with_worker=False).start()
    yield server
    await server.stop()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Upstash-Forward-Content-Length", "3"),
        ("Upstash-Forward-Transfer-Encoding", "chunked"),
        ("Upstash-Forward-Host", "internal.example"),
        ("Upstash-Forward-Connection", "close"),
        ("Upstash-Forward-Expect", "100-continue"),
        ("Upstash-Forward-Proxy-Authorization", "Basic eA=="),
        ("Upstash-Forward-Upstash-Signature", "forged"),
        ("Upstash-Forward-Upstash-Message-Id", "msg_forged"),
        ("Upstash-Callback-Forward-Content-Length", "1"),
        ("Upstash-Failure-Callback-Forward-Upstash-Retried", "0"),
    ],
)
async def test_never_forwarded_headers_are_refused_everywhere(
    ingress: Hookstream, sink: Sink, header: str, value: str
) -> None:
    """Publish, enqueue, schedules and batch items: a 400 naming the header, nothing written."""
    url = sink.url("/h")
    headers = {header: value, "Upstash-Callback": url, "Upstash-Failure-Callback": url}
    for path, extra in [
        (f"/v2/publish/{url}", {}),
        (f"/v2/enqueue/q/{url}", {}),
        (f"/v2/schedules/{url}", {"Upstash-Cron": "* * * * *"}),
    ]:
        error = await refused_unchanged(ingress, "POST", path, data=BODY, headers=headers | extra)
        assert header in error
    batch = [{"destination": url, "body": "ok"}, {"destination": url, "headers": headers}]
    error = await refused_unchanged(ingress, "POST", "/v2/batch", json=batch)
    assert error.startswith(f"batch item 1: {header}")


@pytest.mark.parametrize(
    ("headers", "destination", "error"),
    [
        ({"Upstash-Forward-X-A": "a\r\nX-Injected: 1"}, "", "Upstash-Forward-X-A: the value"),
        ({"Upstash-Forward-X-A": "a\x00b"}, "", "Upstash-Forward-X-A: the value"),
        ({"Upstash-Forward-X-A\r\nX-Injected": "1"}, "", "the name contains CR, LF or NUL"),
        ({"Upstash-Forward-X-A: 1": "2"}, "", "is not a valid header name"),
        ({"Content-Type": "text/plain\nX-Injected: 1"}, "", "Content-Type: the value"),
        ({"Upstash-Deduplication-Id": "a\nb"}, "", "Upstash-Deduplication-Id: the value"),
        ({"Upstash-Callback": "http://127.0.0.1:9/cb\x00"}, "", "Upstash-Callback: the value"),
        ({}, "\x00x", "control character"),
        ({}, "\r\nX-Injected: 1", "control character"),
    ],
)
async def test_batch_items_with_line_breaks_are_refused(
    ingress: Hookstream, sink: Sink, headers: dict[str, str], destination: str, error: str
) -> None:
    """Batch headers are JSON strings, so CR, LF and NUL reach the parser: 400, nothing written
    (they used to be stored, and then crashed the worker's request)."""
    bad = {"destination": sink.url() + destination, "headers": headers}
    batch = [{"destination": sink.url("/ok")}, bad]
    assert error in await refused_unchanged(ingress, "POST", "/v2/batch", json=batch)


async def test_url_group_endpoint_with_nul_is_refused(ingress: Hookstream, sink: Sink) -> None:
    body = {"endpoints": [{"url": sink.url("/a")}, {"url": sink.url("/b\x00")}]}
    error = await refused_unchanged(ingress, "POST", "/v2/topics/g/endpoints", json=body)
    assert "control character" in error


async def test_what_the_sdks_forward_is_delivered(hookstream: Hookstream, sink: Sink) -> None:
    """Content-Type (sent plain by the TypeScript SDK), the caller's headers and the workflow
    SDK's Upstash-Forward-Upstash-Workflow-* headers still go through, in publish and batch."""
    url = sink.url("/ok")
    await hookstream.publish(url, BODY, **{
        "Content-Type": "application/json",
        "Upstash-Forward-Authorization": "Bearer receiver",
        "Upstash-Forward-Upstash-Workflow-Sdk-Version": "1",
    })  # fmt: skip
    item = {
        "destination": url,
        "headers": {"content-type": "text/plain", "upstash-forward-x-a": "1"},
    }
    status, _ = await api(hookstream, "POST", "/v2/batch", json=[item])
    assert status == 201
    first, second = await sink.wait_for(2)
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer receiver"
    assert first.headers["Upstash-Workflow-Sdk-Version"] == "1"
    assert (second.headers["Content-Type"], second.headers["X-A"]) == ("text/plain", "1")


async def _store_unchecked(server: Hookstream, url: str, headers: dict[str, list[str]]) -> str:
    """A message as an older ingress stored it: straight into the pipeline, no header parser."""
    options = PublishOptions(retries=0, timeout_ms=5000, headers=headers)
    planned = plan(server.conn, url, Targets([(url, None)]), options, BODY, Routing())
    await commit(server.conn, planned)
    return planned.drafts[0].envelope.id


async def test_worker_never_sends_what_a_stored_message_smuggles(
    hookstream: Hookstream, sink: Sink
) -> None:
    """The destination gets the whole body with its real Content-Length, no Transfer-Encoding,
    its own Host, our signature; the line-broken value is dropped, the rest delivered."""
    url = sink.url("/stored")
    message_id = await _store_unchecked(hookstream, url, {
        "Content-Length": ["3"],
        "Transfer-Encoding": ["chunked"],
        "Host": ["internal.example"],
        "Upstash-Signature": ["forged"],
        "Upstash-Message-Id": ["msg_forged"],
        "X-Bad": ["a\r\nX-Injected: 1"],
        "X-Good": ["yes"],
    })  # fmt: skip
    (received,) = await sink.wait_for(1)
    assert received.body == BODY
    assert received.headers["Content-Length"] == str(len(BODY))
    assert "Transfer-Encoding" not in received.headers
    assert received.headers["Host"] == f"127.0.0.1:{sink.port}"
    assert received.headers["Upstash-Message-Id"] == message_id
    assert "X-Injected" not in received.headers
    assert "X-Bad" not in received.headers
    assert received.headers["X-Good"] == "yes"
    await verify_signature(hookstream, received, url)


async def test_worker_dead_letters_a_stored_url_with_a_nul(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Such a URL cannot be sent: dead-lettered at once with the reason, not left to crash
    one worker after another."""
    message_id = await _store_unchecked(hookstream, sink.url("/a\x00b"), {})

    async def dead_lettered() -> bool:
        return "FAILED" in await events_of(hookstream, message_id)

    await eventually(dead_lettered)
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    (entry,) = dlq["messages"]
    assert entry["error"] == "destination refused: the URL contains CR, LF or NUL"
    assert sink.received == []


async def test_a_destination_cookie_is_not_sent_with_the_next_delivery(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A Set-Cookie in one destination's answer stays out of every later delivery: the
    worker keeps no cookie jar, so one publisher's destination cannot plant headers in
    another's messages (the sink is reached by name: a jar ignores cookies of IP hosts)."""

    async def set_cookie(_: web.Request, __: bytes) -> web.StreamResponse:
        return web.Response(text="ok", headers={"Set-Cookie": "planted=1; Path=/"})

    sink.respond = set_cookie
    url = sink.url().replace("127.0.0.1", "localhost")
    await hookstream.publish(url, "first")
    await sink.wait_for(1, timeout=10)
    await hookstream.publish(url, "second")
    received = await sink.wait_for(2, timeout=10)
    assert [r.body for r in received] == [b"first", b"second"]
    assert "Cookie" not in received[1].headers
