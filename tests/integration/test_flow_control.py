"""Flow control: parallelism and rate per key across workers, and the /v2/flowControl API."""

from __future__ import annotations

import asyncio

import pytest
from qstash import AsyncQStash

from tests.support.api import PeakConcurrency, api, eventually
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Received, Sink

pytestmark = pytest.mark.integration


async def _publish(hookstream: Hookstream, url: str, body: str, value: str, key: str = "k") -> None:
    headers = {"Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": value}
    code, answer = await api(hookstream, "POST", f"/v2/publish/{url}", data=body, headers=headers)
    assert code == 201, answer


def _max_in_window(arrivals: list[Received], seconds: float) -> int:
    """The most arrivals inside any sliding window of `seconds`."""
    times = sorted(r.at for r in arrivals)
    return max(sum(1 for t in times[i:] if t - start < seconds) for i, start in enumerate(times))


async def test_parallelism_is_bounded(hookstream: Hookstream, sink: Sink) -> None:
    """parallelism=2: never more than 2 of the key's requests at the sink at once."""
    responder = PeakConcurrency(hold=0.05)
    sink.respond = responder
    for index in range(12):
        await _publish(hookstream, sink.url(), str(index), "parallelism=2")
    await sink.wait_for(12)
    assert responder.peak == 2


async def test_rate_is_bounded_in_every_window(hookstream: Hookstream, sink: Sink) -> None:
    """rate=4, period=1s: 12 messages take at least two seconds and no one-second window at
    the sink sees more than 4, without any message waiting on a poll loop."""
    for index in range(12):
        await _publish(hookstream, sink.url(), str(index), "rate=4, period=1s")
    arrivals = await sink.wait_for(12, timeout=10)
    assert _max_in_window(arrivals, 0.98) <= 4
    assert arrivals[-1].at - arrivals[0].at >= 1.9
    print(f"max per 1s window: {_max_in_window(arrivals, 0.98)}")


async def test_message_shows_its_flow_control(hookstream: Hookstream, sink: Sink) -> None:
    """The Message object carries flowControlKey, rate and period (default 1 s)."""
    assert (await api(hookstream, "POST", "/v2/flowControl/shown/pause"))[0] == 404
    headers = {"Upstash-Flow-Control-Key": "shown", "Upstash-Flow-Control-Value": "rate=2",
               "Upstash-Delay": "1h"}  # fmt: skip
    _, answer = await api(
        hookstream, "POST", f"/v2/publish/{sink.url()}", data="x", headers=headers
    )
    _, message = await api(hookstream, "GET", f"/v2/messages/{answer['messageId']}")
    assert (message["flowControlKey"], message["rate"], message["period"]) == ("shown", 2, 1)
    assert "parallelism" not in message


@pytest.mark.parametrize(
    "value", ["parallelism=0", "rate=x", "speed=3", "period=2w", "parallelism=1; rate=2"]
)
async def test_bad_values(hookstream: Hookstream, sink: Sink, value: str) -> None:
    """Values we cannot read are a 400, and nothing is stored."""
    headers = {"Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": value}
    code, body = await api(
        hookstream, "POST", f"/v2/publish/{sink.url()}", data="x", headers=headers
    )
    assert code == 400
    assert "Flow-Control" in body["error"]
    assert (await api(hookstream, "GET", "/v2/flowControl/k"))[0] == 404


async def test_pause_pin_and_info_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """flow_control.get/pause/resume/pin/unpin/reset_rate and global parallelism."""
    await _publish(hookstream, sink.url(), "first", "parallelism=3, rate=10, period=60s", key="sdk")
    await sink.wait_for(1)
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        info = await client.flow_control.get("sdk")
        assert (info.parallelism_max, info.rate_max, info.rate_period) == (3, 10, 60)
        assert info.rate_count == 1
        await client.flow_control.pause("sdk")
        await _publish(hookstream, sink.url(), "held", "parallelism=3", key="sdk")
        await asyncio.sleep(0.3)
        paused = await client.flow_control.get("sdk")
        assert (paused.is_paused, paused.wait_list_size) == (True, 1)
        assert len(sink.received) == 1
        await client.flow_control.pin("sdk", {"parallelism": 1, "rate": 5, "period": 30})
        pinned = await client.flow_control.get("sdk")
        assert (pinned.parallelism_max, pinned.rate_max, pinned.rate_period) == (1, 5, 30)
        assert pinned.is_pinned_parallelism
        assert pinned.is_pinned_rate
        await client.flow_control.resume("sdk")
        await sink.wait_for(2)
        await client.flow_control.unpin("sdk", {"parallelism": True, "rate": True})
        await client.flow_control.reset_rate("sdk")
        final = await client.flow_control.get("sdk")
        assert (final.is_pinned_parallelism, final.is_pinned_rate, final.rate_count) == (
            False,
            False,
            0,
        )
        everything = await client.flow_control.get_global_parallelism()
        assert everything.parallelism_count >= 0
    finally:
        await client.http._client.aclose()

    async def settled() -> bool:
        return (await api(hookstream, "GET", "/v2/flowControl/sdk"))[1]["parallelismCount"] == 0

    await eventually(settled)
    _, listed = await api(hookstream, "GET", "/v2/flowControl", params={"search": "sd"})
    assert [item["flowControlKey"] for item in listed] == ["sdk"]
