"""Flow control: parallelism and rate per key across workers, and the /v2/flowControl API."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from qstash import AsyncQStash

from broker.queue.housekeeping import expire_idle_flow_keys
from broker.queue.keys import queue_partition
from tests.support.api import PeakConcurrency, api, eventually
from tests.support.barriers import events
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def _publish(
    hookstream: Hookstream, url: str, body: str, value: str, key: str = "k", delay: str = ""
) -> None:
    headers = {"Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": value}
    if delay:
        headers["Upstash-Delay"] = delay
    code, answer = await api(hookstream, "POST", f"/v2/publish/{url}", data=body, headers=headers)
    assert code == 201, answer


@pytest.mark.cluster
async def test_parallelism_is_bounded(hookstream: Hookstream, sink: Sink) -> None:
    """parallelism=2: never more than 2 of the key's requests at the sink at once."""
    responder = PeakConcurrency(hold=0.05)
    sink.respond = responder
    for index in range(12):
        await _publish(hookstream, sink.url(), str(index), "parallelism=2")
    await sink.wait_for(12)
    assert responder.peak == 2


@pytest.mark.cluster
async def test_rate_bounds_admissions_in_every_period(hookstream: Hookstream, sink: Sink) -> None:
    """rate=4, period=1s: by the times Redis recorded, message n+4k starts no sooner than k
    seconds after message n was published, and the gate keeps at most 4 admission times."""
    rate, period_ms, count = 4, 1000, 12
    for index in range(count):
        await _publish(hookstream, sink.url(), str(index), f"rate={rate}, period=1s")
    await sink.wait_for(count, timeout=20)
    logged = await events(hookstream, flowControlKey="k")
    order = [e["messageId"] for e in logged if e["state"] == "CREATED"]
    created = {e["messageId"]: e["time"] for e in logged if e["state"] == "CREATED"}
    active = {e["messageId"]: e["time"] for e in logged if e["state"] == "ACTIVE"}
    assert len(order) == len(active) == count
    too_soon = [
        (later, earlier)
        for later in range(count)
        for earlier in range(later % rate, later, rate)
        if active[order[later]] < created[order[earlier]] + (later - earlier) // rate * period_ms
    ]
    assert too_soon == []
    partition = queue_partition("k", hookstream.conn.settings.partitions)
    gate, _ = partition.flow_keys("k")
    times = [int(t) for t in (await hookstream.conn.redis.hget(gate, "times")).split(b",")]
    assert len(times) == rate
    assert min(times) >= created[order[0]] + 2 * period_ms


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


@pytest.mark.cluster
async def test_pause_pin_and_info_with_the_python_sdk(hookstream: Hookstream, sink: Sink) -> None:
    """flow_control.get/pause/resume/pin/unpin/reset_rate, and global parallelism counting the
    one message in flight."""
    release = asyncio.Event()

    async def hold_second(_: web.Request, body: bytes) -> web.StreamResponse:
        if body == b"held":
            await release.wait()
        return web.Response(text="ok")

    async def settled() -> bool:
        return (await api(hookstream, "GET", "/v2/flowControl/sdk"))[1]["parallelismCount"] == 0

    sink.respond = hold_second
    await _publish(hookstream, sink.url(), "first", "parallelism=3, rate=10, period=60s", key="sdk")
    await sink.wait_for(1)
    await eventually(settled)
    client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
    try:
        info = await client.flow_control.get("sdk")
        assert (info.parallelism_max, info.rate_max, info.rate_period) == (3, 10, 60)
        assert info.rate_count == 1
        await client.flow_control.pause("sdk")
        await _publish(hookstream, sink.url(), "held", "parallelism=3", key="sdk")
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
        assert (everything.parallelism_max, everything.parallelism_count) == (0, 1)
    finally:
        release.set()
        await client.http._client.aclose()
    await eventually(settled)
    _, listed = await api(hookstream, "GET", "/v2/flowControl", params={"search": "sd"})
    assert [item["flowControlKey"] for item in listed] == ["sdk"]


async def test_a_delayed_message_holds_no_slot_then_passes_its_gate(
    hookstream: Hookstream, sink: Sink
) -> None:
    """Upstash-Delay with a key (parallelism=1): the delayed messages are not delivered before
    their delay and hold no slot meanwhile (an undelayed one published after them goes
    first); once due they pass the gate one at a time."""
    responder = PeakConcurrency(hold=0.1)
    sink.respond = responder
    value = "parallelism=1"
    for body in ("late-1", "late-2"):
        await _publish(hookstream, sink.url(), body, value, delay="1s")
    await _publish(hookstream, sink.url(), "now", value)
    (first,) = await sink.wait_for(1)
    assert first.body == b"now"
    await sink.wait_for(3)
    assert responder.peak == 1
    logged = await events(hookstream, flowControlKey="k")
    created = {e["messageId"]: e["time"] for e in logged if e["state"] == "CREATED"}
    active = {e["messageId"]: e["time"] for e in logged if e["state"] == "ACTIVE"}
    delayed = [e for e in logged if e["state"] == "CREATED" and "nextDeliveryTime" in e]
    assert len(delayed) == 2
    assert all(active[e["messageId"]] >= created[e["messageId"]] + 1000 for e in delayed)


async def test_a_key_expired_during_a_delay_is_created_again(redis_url: str, sink: Sink) -> None:
    """A key deleted as idle while its only message is delayed (it holds nothing then) comes
    back, with the message's settings, when that message comes due."""
    server = await Hookstream(redis_url, flow_control_idle_ms=0).start()
    try:
        await _publish(server, sink.url(), "x", "parallelism=3", key="napping", delay="1s")
        assert await expire_idle_flow_keys(server.conn) == ["napping"]
        assert (await api(server, "GET", "/v2/flowControl/napping"))[0] == 404
        await sink.wait_for(1)
        code, info = await api(server, "GET", "/v2/flowControl/napping")
        assert (code, info["parallelismMax"]) == (200, 3)
    finally:
        await server.stop()
