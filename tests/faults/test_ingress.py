"""The ingress process killed with SIGKILL under load and restarted on the same port: every
publish it answered 2xx is delivered, and a client that retries unanswered publishes with
`Upstash-Deduplication-Id` gets each message stored exactly once."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from broker.redis_server import free_port
from tests.support.api import until
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink

KILLS = 3


async def _publish_retrying(
    ledger: Ledger, http: aiohttp.ClientSession, path: str, key: str
) -> None:
    """A careful client: retries a publish that got no answer or a 503, with the same
    deduplication id, until it is acknowledged."""
    for _ in range(300):
        status = await ledger.publish(http, path, key, {"Upstash-Deduplication-Id": key}, 5)
        if status is not None and status < 300:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} was never acknowledged")


async def test_ingress_sigkill_under_load(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """300 publishes from 8 retrying clients while the ingress is killed with SIGKILL three
    times and restarted: every key ends up acknowledged, every acknowledged message is
    delivered, and no key is stored twice (copies = 0) although some answers never came."""
    assert ingress.http is not None
    port = free_port()
    victim = await roles.ingress(valkey.url, port)
    await roles.worker(valkey.url)
    keys = iter(f"c-{i}" for i in range(300))
    path = f"/v2/publish/{sink.url()}"
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=auth) as http:

        async def client() -> None:
            for key in keys:
                await _publish_retrying(ledger, http, path, key)

        publishing = asyncio.gather(*(client() for _ in range(8)))
        for _ in range(KILLS):
            acknowledged = len(ledger.acknowledged)
            await until(lambda: len(ledger.acknowledged) >= acknowledged + 40, what="load")  # noqa: B023
            victim.signal(signal.SIGKILL)
            await asyncio.to_thread(victim.wait_exit)
            victim = await roles.ingress(valkey.url, port)
        await publishing
    assert len(set(ledger.acknowledged.values())) == 300
    verdict = await ledger.verify(
        sink,
        ingress.http,
        f"ingress SIGKILL x{KILLS}, clients retry with a dedup id",
        max_duplicates=0,
        unanswered=ledger.unanswered,
    )
    assert verdict.copies == 0
    assert ledger.unanswered > 0  # the kills did cut publishes off
