"""`POST /v2/batch`: mixed items in request order; one bad item writes nothing."""

from __future__ import annotations

import pytest
from qstash import AsyncQStash

from tests.support.api import api
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


@pytest.mark.cluster
async def test_mixed_batch_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """A URL, a URL group and a queue item: answers in order, the group's as a nested list."""
    await api(hookstream, "POST", "/v2/topics/pair/endpoints",
              json={"endpoints": [{"url": sink.url("/g1")}, {"url": sink.url("/g2")}]})  # fmt: skip
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        answers = await client.message.batch_json(
            [
                {"url": sink.url("/u"), "body": {"n": 1}, "headers": {"X-A": "1"}},
                {"url_group": "pair", "body": {"n": 2}},
                {"queue": "bq", "url": sink.url("/q"), "body": {"n": 3}},
            ]
        )
    finally:
        await client.http._client.aclose()
    assert len(answers) == 3
    assert not isinstance(answers[0], list)
    assert isinstance(answers[1], list)
    assert [a.url for a in answers[1]] == [sink.url("/g1"), sink.url("/g2")]
    received = await sink.wait_for(4)
    assert sorted(r.path for r in received) == ["/g1", "/g2", "/q", "/u"]
    by_path = {r.path: r for r in received}
    assert by_path["/u"].headers["X-A"] == "1"
    assert by_path["/u"].headers["Upstash-Message-Id"] == answers[0].message_id
    _, queue = await api(hookstream, "GET", "/v2/queues/bq")
    assert queue["parallelism"] == 1


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"destination": "ftp://x"}, "batch item 1"),
        ({"destination": "missing-group"}, "batch item 1"),
        ({"destination": "http://h.io", "headers": {"Upstash-Retries": "x"}}, "Upstash-Retries"),
        (
            {"destination": "http://h.io", "queue": "q", "headers": {"Upstash-Delay": "1s"}},
            "enqueue",
        ),
        ({"nodestination": 1}, "invalid batch"),
    ],
)
async def test_one_bad_item_rejects_the_batch(
    hookstream: Hookstream, sink: Sink, item: dict, error: str
) -> None:
    """The good first item is not written when the second is invalid."""
    batch = [{"destination": sink.url("/ok"), "body": "x"}, item]
    code, body = await api(hookstream, "POST", "/v2/batch", json=batch)
    assert code in (400, 404)
    assert error in body["error"]
    _, events = await api(hookstream, "GET", "/v2/events")
    assert events["events"] == []


async def test_batch_must_be_an_array(hookstream: Hookstream) -> None:
    """A JSON object is not a batch."""
    code, body = await api(hookstream, "POST", "/v2/batch", json={"destination": "http://h.io"})
    assert code == 400
    assert "array" in body["error"] or "invalid batch" in body["error"]
