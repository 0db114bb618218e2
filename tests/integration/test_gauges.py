"""The backlog gauges are read from Redis when /metrics is scraped, not on a timer."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client import REGISTRY

from tests.support.hookstream import Hookstream
from tests.support.sink import Sink
from workers.gauges import BacklogSampler

pytestmark = pytest.mark.integration


def _delayed() -> float | None:
    return REGISTRY.get_sample_value("hookstream_delayed_messages")


async def _scraped_delayed(hookstream: Hookstream) -> float:
    async with (
        aiohttp.ClientSession(hookstream.url) as anonymous,
        anonymous.get("/metrics") as resp,
    ):
        assert resp.status == 200
        lines = (await resp.text()).splitlines()
    values = [line.split()[-1] for line in lines if line.startswith("hookstream_delayed_messages ")]
    assert len(values) == 1, f"no delayed gauge in the scrape: {lines[:5]}"
    return float(values[0])


async def test_a_scrape_shows_the_backlog_of_that_moment(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Messages delayed just before a scrape are counted in it: the worker reads the gauges
    for the scrape, with no sampling timer to wait for."""
    for n in range(3):
        await hookstream.publish(sink.url(), f"later {n}", Upstash_Delay="1h")
    assert await _scraped_delayed(hookstream) == 3


async def test_a_sampler_reads_again_only_once_its_reading_is_old(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Scrapes in quick succession share a reading (negative control: with no minimum age,
    the second one reads Redis again and sees the new message)."""
    await hookstream.publish(sink.url(), "first", Upstash_Delay="1h")
    fresh, eager = BacklogSampler(hookstream.conn, 3600), BacklogSampler(hookstream.conn, 0)
    await fresh()
    assert _delayed() == 1
    await hookstream.publish(sink.url(), "second", Upstash_Delay="1h")
    await fresh()
    assert _delayed() == 1
    await eager()
    assert _delayed() == 2
