"""Delays and Not-Before: never early (how late is measured by `make bench`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.support.api import api, json_body, status
from tests.support.barriers import events
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def test_thousand_random_delays_none_early(hookstream: Hookstream, sink: Sink) -> None:
    """1,000 messages due 0 to 3 s later all arrive, and none before its due time."""
    rng = random.Random(7)
    earliest_due: dict[str, float] = {}
    gate = asyncio.Semaphore(50)

    async def publish(index: int) -> None:
        delay_ms = rng.randrange(0, 3000)
        async with gate:
            sent = time.time()
            answer = await hookstream.publish(
                sink.url(), str(index), **{"Upstash-Delay": f"{delay_ms}ms"}
            )
        # Redis stamps the due time after `sent`, so this is a lower bound of the due time.
        earliest_due[answer["messageId"]] = sent + delay_ms / 1000

    await asyncio.gather(*(publish(i) for i in range(1000)))
    arrivals = await sink.wait_for(1000, timeout=60)
    by_id = {r.headers["Upstash-Message-Id"]: r.at for r in arrivals}
    assert by_id.keys() == earliest_due.keys()
    early = [mid for mid, at in by_id.items() if at < earliest_due[mid]]
    assert early == []


async def test_not_before_in_the_past_is_immediate(hookstream: Hookstream, sink: Sink) -> None:
    """A Not-Before already passed goes straight to the ready stream (no nextDeliveryTime on
    CREATED) and is delivered; notBefore is reported in ms (here in the callback)."""
    answer = await hookstream.publish(
        sink.url("/dest"),
        "x",
        **{"Upstash-Not-Before": "1700000000", "Upstash-Callback": sink.url("/cb")},
    )
    (created,) = await events(hookstream, messageId=answer["messageId"], state="CREATED")
    assert "nextDeliveryTime" not in created
    await sink.wait_for(1, path="/dest")
    (callback,) = await sink.wait_for(1, path="/cb")
    assert json_body(callback.body)["notBefore"] == 1_700_000_000_000


async def test_not_before_in_the_future_waits(hookstream: Hookstream, sink: Sink) -> None:
    """Not-Before (unix seconds) wins over Delay, is visible on the message while it waits,
    and the delivery does not come before it."""
    await hookstream.stop_worker()  # nothing is delivered before the message is read back
    due = int(time.time()) + 2
    answer = await hookstream.publish(
        sink.url(), "x", **{"Upstash-Not-Before": str(due), "Upstash-Delay": "1h"}
    )
    code, message = await api(hookstream, "GET", f"/v2/messages/{answer['messageId']}")
    assert code == 200
    assert message["notBefore"] == due * 1000
    await hookstream.start_worker()
    (received,) = await sink.wait_for(1, timeout=15)
    assert received.at >= due


# A promoter that would sleep a whole minute: anything delivered within the waits below was
# woken by the announcement of a new head of the delayed set, not by its timer.
SLEEPY = {"promote_interval_ms": 60_000}


async def _ok(_: web.Request, __: bytes) -> web.StreamResponse:
    return web.Response(text="ok")


@pytest.fixture
async def sleepy(redis_url: str) -> AsyncIterator[Hookstream]:
    server = await Hookstream(redis_url, **SLEEPY).start()
    yield server
    await server.stop()


async def test_new_head_wakes_an_idle_promoter(sleepy: Hookstream, sink: Sink) -> None:
    """An idle worker (nothing delayed) sleeps its whole interval; a delayed publish that
    becomes the new head is announced and delivered on time, as is an earlier one published
    after a later one (a new head again), in due order."""
    await asyncio.sleep(0.2)  # the promoter's first sweep found nothing: it sleeps a minute
    late = await sleepy.publish(sink.url(), "late", Upstash_Delay="2s")
    early = await sleepy.publish(sink.url(), "early", Upstash_Delay="300ms")
    received = await sink.wait_for(2, timeout=10)
    assert [r.headers["Upstash-Message-Id"] for r in received] == [
        early["messageId"],
        late["messageId"],
    ]


async def test_retry_wakes_an_idle_promoter(sleepy: Hookstream, sink: Sink) -> None:
    """A retry's backoff goes into the delayed set from the settle script: it is announced
    too, so the retry comes without waiting for the promoter's timer."""
    answers = iter([status(500), _ok])
    sink.respond = lambda request, body: next(answers)(request, body)
    await sleepy.publish(sink.url(), "x")
    received = await sink.wait_for(2, timeout=10)
    assert [r.headers["Upstash-Retried"] for r in received] == ["0", "1"]


async def test_idle_worker_sweeps_once_per_interval(sleepy: Hookstream) -> None:
    """With nothing delayed, a worker runs no promote between its sweeps (it used to run
    one per partition every 20 ms): over a second, no script runs at all."""
    await asyncio.sleep(0.2)  # past the first sweep
    redis = sleepy.conn.redis
    await redis.config_resetstat()
    await asyncio.sleep(1.0)
    stats = await redis.info("commandstats")
    assert stats.get("cmdstat_evalsha", {"calls": 0})["calls"] == 0
