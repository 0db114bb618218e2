"""The retry path: the sink fails about half of the first attempts (500), once.

HOOKSTREAM_RETRY_TIME_SCALE shrinks QStash's first backoff (e^2.5 s) to ~100 ms. Retry
lateness = arrival of the retry - (the sink's 500 answer + the scheduled backoff). The worker
computes the due time in whole ms after it has read that answer, so the answer's time cut to
the ms, plus the backoff, is never later than the real due time: a negative lateness would
really be early.

Two runs: a pre-filled queue (throughput, with retries queueing behind the backlog), and a
paced one under capacity (lateness of the promote path itself).
"""

from __future__ import annotations

import math

from bench.lab import Lab
from bench.loadgen import paced
from bench.measure import measure_drain
from bench.report import Report
from bench.sink import Records
from bench.sizes import Sizes
from bench.stats import ratio, summary_ms
from workers.backoff import default_backoff_ms

NAME = "retry"


def retry_lateness(records: Records, backoff_s: float) -> list[float]:
    failed_at: dict[str, float] = {}
    lateness = []
    rows = zip(records.at, records.message_id, records.retried, records.ok, strict=True)
    for at, message_id, retried, ok in rows:
        if retried == 0 and not ok:
            failed_at[message_id] = math.floor(at * 1000) / 1000
        elif retried == 1 and message_id in failed_at:
            lateness.append(at - failed_at[message_id] - backoff_s)
    return lateness


async def run(lab: Lab, sizes: Sizes, report: Report) -> None:
    first_backoff = default_backoff_ms(1)
    scale = sizes.retry_backoff_ms / first_backoff
    backoff_s = int(first_backoff * scale) / 1000  # as workers/backoff.py rounds it
    env = {"HOOKSTREAM_RETRY_TIME_SCALE": repr(scale)}

    await lab.clean(fail_first=True)
    await lab.queue_messages(sizes.retry_drain)
    drained = await measure_drain(lab, lab.workers(1, **env), sizes.retry_drain)
    records = await lab.sink.records()
    attempts_per_second = round(len(records.at) / drained.seconds, 1)
    saturated = summary_ms(retry_lateness(records, backoff_s))

    endpoint = await lab.pipeline(fail_first=True, **env)
    count = sizes.retry_paced_rate * sizes.retry_paced_seconds
    await paced(endpoint, sizes.retry_paced_rate, count)
    await lab.sink.wait_delivered(count, max_wait=sizes.retry_paced_seconds + 30)
    paced_lateness = retry_lateness(await lab.sink.records(), backoff_s)
    under_capacity = summary_ms(paced_lateness)
    early = sum(late < 0 for late in paced_lateness)

    plain = report.data.get("drain", {}).get("hookstream_w1", {}).get("per_second", 0.0)
    drain_numbers = {"attempts_per_second": attempts_per_second, "retry_lateness": saturated}
    paced_numbers = {"rate": sizes.retry_paced_rate, "count": count, "early": early}
    report.data[NAME] = {
        "backoff_ms": backoff_s * 1000,
        "drain": {**drained.as_dict(), **drain_numbers},
        "paced": {**paced_numbers, "retries": len(paced_lateness), "lateness": under_capacity},
    }
    report.add(NAME, "drain, 50% retried: deliveries/s", drained.per_second, "/s")
    report.add(NAME, "drain, 50% retried: attempts/s", attempts_per_second, "/s")
    if plain:
        report.add(NAME, "deliveries/s vs plain drain W=1", ratio(drained.per_second, plain), "x")
    report.add(NAME, "drain: retry lateness p50", saturated["p50_ms"], "ms")
    report.add(NAME, "drain: retry lateness p99", saturated["p99_ms"], "ms")
    rate = sizes.retry_paced_rate
    report.add(NAME, f"paced {rate}/s: retry lateness p50", under_capacity["p50_ms"], "ms")
    report.add(NAME, f"paced {rate}/s: retry lateness p99", under_capacity["p99_ms"], "ms")
    report.add(NAME, f"paced {rate}/s: retry lateness max", under_capacity["max_ms"], "ms")
    report.add(NAME, "early retries", early, "", "0", early == 0)
