"""Hard cases of delivery: a poison message, hostile destinations, and a worker killed
while it promotes a batch of delayed messages."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

from tests.support.hookstream import Hookstream
from tests.support.hostile import (
    always,
    by_tag,
    gzip_bomb,
    hang_first,
    huge_body,
    push_back,
    redirect,
    slow,
)
from tests.support.ledger import Ledger
from tests.support.procs import Roles
from tests.support.redis_process import RedisProcess
from tests.support.sink import Sink


async def test_poison_message(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """10 messages whose destination always answers 500 among 200 good ones, 2 retries each:
    each poison message is attempted exactly 3 times and dead-lettered; every other message
    is delivered."""
    assert ingress.http is not None
    sink.respond = by_tag({"poison": always(500)})
    await roles.worker(valkey.url)
    keys = [f"poison:c-{i}" if i % 20 == 0 else f"c-{i}" for i in range(200)]
    path = f"/v2/publish/{sink.url()}"
    await ledger.publish_all(ingress.http, path, keys, headers={"Upstash-Retries": "2"})
    verdict = await ledger.verify(sink, ingress.http, "poison message (always 500)")
    poison = {mid for mid, key in ledger.acknowledged.items() if key.startswith("poison:")}
    assert verdict.dead_lettered == len(poison) == 10
    attempts = Counter(r.headers["Upstash-Message-Id"] for r in sink.received)
    assert {attempts[mid] for mid in poison} == {3}
    assert verdict.delivered == 190


HOSTILE = {
    "slow": slow(0.5),
    "hang": hang_first(seconds=5),
    "huge": huge_body(5 * 1024 * 1024),
    "bomb": gzip_bomb(20 * 1024 * 1024),
    "r429": push_back(429, "1"),
    "r503": push_back(503, "1"),
}


async def test_hostile_destinations(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """Destinations that are slow, hang past the timeout once, answer 5 MB or a 20 MB gzip
    bomb, push back with 429/503 + Retry-After once, or redirect: all but the redirects are
    delivered; a redirect is never followed (its target gets nothing) and ends in the DLQ;
    the worker survives all of it with bounded memory."""
    assert ingress.http is not None
    target = Sink()
    await target.start()
    try:
        sink.respond = by_tag({**HOSTILE, "redirect": redirect(target.url("/stolen"))})
        worker = await roles.worker(valkey.url)
        keys = [f"{tag}:c-{i}" for tag in [*HOSTILE, "redirect"] for i in range(5)]
        headers = {"Upstash-Timeout": "2s", "Upstash-Retries": "2"}
        path = f"/v2/publish/{sink.url()}"
        await ledger.publish_all(ingress.http, path, keys, headers=headers)
        verdict = await ledger.verify(sink, ingress.http, "hostile destinations", drain_timeout=90)
        assert target.received == []
        assert worker.process.poll() is None
        # Neither the 5 MB body nor the bomb was held whole: the worker reads a capped prefix.
        assert worker.rss_bytes() < 200 * 1024 * 1024
    finally:
        await target.stop()
    redirected = {mid for mid, key in ledger.acknowledged.items() if key.startswith("redirect:")}
    assert verdict.dead_lettered == len(redirected) == 5
    assert verdict.delivered == 30


async def test_worker_killed_while_promoting_delayed(
    ingress: Hookstream, ledger: Ledger, sink: Sink, roles: Roles, valkey: RedisProcess
) -> None:
    """300 messages delayed 2 s, all due at once; the worker is killed with SIGKILL once the
    first 20 arrive, while its promote loop is still moving batches: a second worker
    delivers the rest, none before its due time, duplicates <= what was pending."""
    assert ingress.http is not None
    sink.respond = slow(0.05)
    sent_at: dict[str, float] = {}
    path = f"/v2/publish/{sink.url()}"

    async def publish(key: str) -> None:
        sent_at[key] = time.time()
        await ledger.publish(ingress.http, path, key, {"Upstash-Delay": "2s"})

    await asyncio.gather(*(publish(f"c-{i}") for i in range(300)))
    victim = await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    await sink.wait_for(20, timeout=30)
    in_flight = await ledger.mark_fault()
    victim.signal(signal.SIGKILL)
    victim.wait_exit()
    await roles.worker(valkey.url, HOOKSTREAM_WORKER_CONCURRENCY="20")
    await ledger.verify(
        sink, ingress.http, "worker SIGKILL mid-promote of 300 delayed", in_flight_at_kill=in_flight
    )
    early = [r.body for r in sink.received if r.at < sent_at[r.body.decode()] + 2]
    assert early == []
