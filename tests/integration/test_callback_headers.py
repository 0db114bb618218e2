"""`Upstash-Callback-*` headers end to end: the callback is a message configured by them."""

from __future__ import annotations

import pytest

from tests.support.api import api, by_path, eventually, status
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def test_callback_gets_forwarded_headers_and_its_own_retries(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A failing callback with Upstash-Callback-Retries: 1 is tried twice (not 1 + the
    message's 3) and then dead-lettered; each attempt carries X-Trace from
    Upstash-Callback-Forward-X-Trace and not X-Plain from the unknown Upstash-Callback-X-Plain."""
    sink.respond = by_path({"/cb": status(500)})
    await hookstream.publish(
        sink.url("/dest"),
        "x",
        **{
            "Upstash-Retries": "3",
            "Upstash-Callback": sink.url("/cb"),
            "Upstash-Callback-Retries": "1",
            "Upstash-Callback-Forward-X-Trace": "t1",
            "Upstash-Callback-X-Plain": "p",
        },
    )

    async def callback_dead_lettered() -> bool:
        _, dlq = await api(hookstream, "GET", "/v2/dlq")
        return [m["url"] for m in dlq["messages"]] == [sink.url("/cb")]

    await eventually(callback_dead_lettered)
    attempts = [r for r in sink.received if r.path == "/cb"]
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt.headers["X-Trace"] == "t1"
        assert "X-Plain" not in attempt.headers
