"""Delay precision: messages published with Upstash-Delay (and a few with Not-Before).

Lateness = arrival at the sink - the due time Redis holds for the message. The due time is
read back from the delayed set (ZSCORE) right after publishing, because the publish script
computes it from Redis TIME; sink and Redis read the same clock on this machine, so a
negative lateness really means early.

Upstash-Not-Before has a resolution of one second, so its messages are all due in the same
millisecond: they are reported apart, as a burst whose tail is bounded by the drain rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.lab import Lab
from bench.loadgen import paced
from bench.report import Report
from bench.sizes import Sizes
from bench.stats import summary_ms
from broker.queue.keys import keys_for

NAME = "delay"
TARGET_P99_MS = 20.0
PUBLISH_RATE = 500
NOT_BEFORE_EVERY = 10


def _headers(delay_seconds: int, not_before: int) -> Callable[[int], dict[str, str]]:
    def headers(seq: int) -> dict[str, str]:
        if seq % NOT_BEFORE_EVERY == 0:
            return {"Upstash-Not-Before": str(not_before)}
        return {"Upstash-Delay": f"{delay_seconds}s"}

    return headers


async def due_times(lab: Lab, message_ids: list[str]) -> dict[str, float]:
    """message id → due time in unix seconds, as stored in the delayed set."""
    async with lab.redis.pipeline(transaction=False) as pipe:
        for message_id in message_ids:
            pipe.zscore(keys_for(message_id).delayed, message_id)
        scores = await pipe.execute()
    if None in scores:
        raise RuntimeError("a delayed message left the delayed set before its due time was read")
    return {mid: score / 1000 for mid, score in zip(message_ids, scores, strict=True)}


def first_success(records_at: list[float], ids: list[str], ok: list[bool]) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for at, message_id, success in zip(records_at, ids, ok, strict=True):
        if success:
            arrivals.setdefault(message_id, at)
    return arrivals


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    endpoint = await lab.pipeline()
    publish_seconds = sizes.delayed / PUBLISH_RATE
    # A whole second (Not-Before's unit) after every Upstash-Delay message is due.
    not_before = int(time.time() + publish_seconds + sizes.delay_seconds) + 1
    headers = _headers(sizes.delay_seconds, not_before)
    published = await paced(endpoint, PUBLISH_RATE, sizes.delayed, headers)
    due = await due_times(lab, [p.message_id for p in published])
    await lab.sink.wait_delivered(sizes.delayed, max_wait=not_before - time.time() + 30)
    records = await lab.sink.records()
    arrival = first_success(records.at, records.message_id, records.ok)
    lateness = {mid: arrival[mid] - due[mid] for mid in due}
    burst = {p.message_id for seq, p in enumerate(published) if seq % NOT_BEFORE_EVERY == 0}
    by_delay = summary_ms([late for mid, late in lateness.items() if mid not in burst])
    by_not_before = summary_ms([lateness[mid] for mid in burst])
    early = sum(late < 0 for late in lateness.values())
    report.data[NAME] = {
        "count": sizes.delayed,
        "upstash_delay": by_delay,
        "not_before_burst": {"count": len(burst), **by_not_before},
        "early": early,
    }
    report.add(NAME, "Upstash-Delay lateness p50", by_delay["p50_ms"], "ms")
    ok = by_delay["p99_ms"] <= TARGET_P99_MS
    report.add(
        NAME, "Upstash-Delay lateness p99", by_delay["p99_ms"], "ms", f"<= {TARGET_P99_MS:g}", ok
    )
    report.add(NAME, "Upstash-Delay lateness max", by_delay["max_ms"], "ms")
    report.add(NAME, f"Not-Before burst of {len(burst)} p99", by_not_before["p99_ms"], "ms")
    report.add(NAME, "early deliveries", early, "", "0", early == 0)
