"""GET /v2/stats and GET /v2/cronPreview, the console's two endpoints, on a real server."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from broker.cron import next_fire_ms, parse_cron
from tests.support.api import api, eventually, status
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


async def _stats(hookstream: Hookstream) -> dict[str, Any]:
    code, body = await api(hookstream, "GET", "/v2/stats")
    assert code == 200, body
    return body  # type: ignore[no-any-return]


@pytest.mark.cluster
async def test_stats_count_backlog_rates_and_failures(hookstream: Hookstream, sink: Sink) -> None:
    """Delivered, dead-lettered and delayed messages show in the figures; the failures list
    names the dead letter; without a token the endpoint is refused."""
    sink.respond = status(500)
    failed = (await hookstream.publish(sink.url("/down"), "x", Upstash_Retries="0"))["messageId"]
    await hookstream.publish(sink.url("/later"), "y", Upstash_Delay="1h")

    async def settled() -> bool:
        return (await _stats(hookstream))["dlq"] == 1

    await eventually(settled)
    stats = await _stats(hookstream)
    assert (stats["delayed"], stats["ready"], stats["inFlight"]) == (1, 0, 0)
    assert stats["rates"]["published"] == pytest.approx(2 / 60, abs=1e-3)
    assert stats["rates"]["deadLettered"] == pytest.approx(1 / 60, abs=1e-3)
    assert stats["rates"]["windowSeconds"] == 60
    assert [(e["messageId"], e["state"]) for e in stats["recentFailures"]] == [
        (failed, "FAILED"),
        (failed, "ERROR"),
    ]
    assert sum(p["dlq"] for p in stats["partitions"]) == 1
    async with (
        aiohttp.ClientSession(hookstream.url) as anonymous,
        anonymous.get("/v2/stats") as resp,
    ):
        assert resp.status == 401


async def test_cron_preview_is_the_schedulers_own_arithmetic(hookstream: Hookstream) -> None:
    """The next fire times come from broker/cron.py after Redis time; bad input is a 400."""
    code, body = await api(
        hookstream, "GET", "/v2/cronPreview", params={"cron": "CRON_TZ=Europe/Berlin 30 2 * * *"}
    )
    assert code == 200
    assert len(body["next"]) == 5
    cron = parse_cron("CRON_TZ=Europe/Berlin 30 2 * * *")
    assert body["next"][1] == next_fire_ms(cron, body["next"][0])
    assert body["next"][0] > await hookstream.conn.now_ms()
    code, body = await api(hookstream, "GET", "/v2/cronPreview", params={"cron": "61 * * * *"})
    assert code == 400
    assert "invalid cron" in body["error"]
    code, body = await api(hookstream, "GET", "/v2/cronPreview")
    assert code == 400
    code, body = await api(
        hookstream, "GET", "/v2/cronPreview", params={"cron": "* * * * *", "count": "20"}
    )
    assert (code, len(body["next"])) == (200, 20)
    code, body = await api(
        hookstream, "GET", "/v2/cronPreview", params={"cron": "* * * * *", "count": "500"}
    )
    assert code == 400  # counts are bounded, like every list's (docs/security.md, Limits)
