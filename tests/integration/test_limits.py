"""Bounded inputs (docs/security.md "Limits"): each request over a limit gets a 4xx that names
the field or setting, and Redis is left exactly as it was."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.hookstream import Hookstream
from tests.support.state import redis_snapshot

pytestmark = pytest.mark.integration

URL = "http://h.io/x"


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Hookstream]:
    """An ingress without a worker, so nothing changes Redis but the requests themselves."""
    running = await Hookstream(redis_url, with_worker=False).start()
    yield running
    await running.stop()


async def refused(
    server: Hookstream, method: str, path: str, status: int, *named: str, **request: Any
) -> None:
    """The request gets `status` with an error naming every one of `named`; nothing is written."""
    assert server.http is not None
    before = await redis_snapshot(server.conn.redis)
    async with server.http.request(method, path, **request) as resp:
        answer = await resp.json()
        assert resp.status == status, answer
    for name in named:
        assert name in answer["error"]
    assert await redis_snapshot(server.conn.redis) == before


IN_30_DAYS = str(int(time.time()) + 30 * 86_400)
MAX_DELAY = "HOOKSTREAM_MAX_DELAY"
NUMBERS = {
    "delay-8d": ({"Upstash-Delay": "8d"}, ("Upstash-Delay", MAX_DELAY)),
    "delay-1e23d": ({"Upstash-Delay": "99999999999999999999999d"}, ("Upstash-Delay", MAX_DELAY)),
    "delay-400-digits": ({"Upstash-Delay": "9" * 400 + "s"}, ("Upstash-Delay",)),
    "not-before-30d": ({"Upstash-Not-Before": IN_30_DAYS}, ("Upstash-Not-Before", MAX_DELAY)),
    "timeout-400-digits": ({"Upstash-Timeout": "9" * 400}, ("Upstash-Timeout",)),
    "retries-underscore": ({"Upstash-Retries": "1_0"}, ("Upstash-Retries",)),
    "retries-30-digits": ({"Upstash-Retries": "9" * 30}, ("Upstash-Retries",)),
    "retry-delay-negative-later": (
        {"Upstash-Retries": "20", "Upstash-Retry-Delay": "1000 - 100 * retried"},
        ("Upstash-Retry-Delay", "retried=11"),
    ),
    "retry-delay-overflow": ({"Upstash-Retry-Delay": "pow(10, 400)"}, ("Upstash-Retry-Delay",)),
    "retry-delay-complex": ({"Upstash-Retry-Delay": "(-1) ** 0.5"}, ("Upstash-Retry-Delay",)),
    "callback-delay-30d": (
        {"Upstash-Callback": "http://h.io/cb", "Upstash-Callback-Delay": "30d"},
        ("Upstash-Callback-Delay", MAX_DELAY),
    ),
    "failure-callback-retry-delay": (
        {"Upstash-Failure-Callback": "http://h.io/f", "Upstash-Failure-Callback-Retry-Delay": "-1"},
        ("Upstash-Failure-Callback-Retry-Delay",),
    ),
}


@pytest.mark.parametrize(("headers", "named"), NUMBERS.values(), ids=NUMBERS.keys())
async def test_numbers_out_of_range(
    server: Hookstream, headers: dict[str, str], named: tuple[str, ...]
) -> None:
    """Delays beyond HOOKSTREAM_MAX_DELAY, numbers too long to be numbers, and retry delays
    that are negative or not finite for some retry are refused at publish."""
    await refused(server, "POST", f"/v2/publish/{URL}", 400, *named, data="x", headers=headers)


PAGING = {
    "events-count-0": ("GET", "/v2/events", {"count": "0"}, "count"),
    "events-count-negative": ("GET", "/v2/events", {"count": "-5"}, "count"),
    "events-count-over-1000": ("GET", "/v2/events", {"count": "1001"}, "from 1 to 1000"),
    "events-count-huge": ("GET", "/v2/events", {"count": "9" * 30}, "count"),
    "events-count-text": ("GET", "/v2/events", {"count": "ten"}, "count"),
    "dlq-count-over-100": ("GET", "/v2/dlq", {"count": "101"}, "from 1 to 100"),
    "dlq-bulk-delete-count-0": ("DELETE", "/v2/dlq", {"count": "0"}, "count"),
    "dlq-bulk-retry-count-0": ("POST", "/v2/dlq/retry", {"count": "0"}, "count"),
    "cursor-past-64-bits": (
        "GET",
        "/v2/events",
        {"cursor": "99999999999999999999999-0/0"},
        "cursor",
    ),
    "cursor-unknown-partition": ("GET", "/v2/events", {"cursor": "1-0/7"}, "cursor"),
    "cursor-negative-partition": ("GET", "/v2/dlq", {"cursor": "1-0/-1"}, "cursor"),
    "cursor-other-digits": ("GET", "/v2/dlq", {"cursor": "\u0661-0/0"}, "cursor"),
}


@pytest.mark.parametrize(("method", "path", "params", "named"), PAGING.values(), ids=PAGING.keys())
async def test_paging_parameters_out_of_range(
    server: Hookstream, method: str, path: str, params: dict[str, str], named: str
) -> None:
    """`count` outside 1..the page maximum and cursors this server cannot have issued are
    400s, for listing and for the bulk DLQ calls alike."""
    await refused(server, method, path, 400, named, params=params)
