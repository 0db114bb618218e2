"""The overview's arithmetic: rates from bounded samples of the events log."""

from __future__ import annotations

from collections import Counter

import pytest

from broker.http.routes.stats import rates_of
from broker.queue import activity
from broker.queue.activity import Sample


def test_rates_divide_each_partitions_counts_by_the_time_it_covers() -> None:
    """A quiet partition over the whole minute, a busy one over its sample's 5 s."""
    quiet = Sample(0, 60_000, Counter({"CREATED": 6, "DELIVERED": 3}), [])
    busy = Sample(1, 5_000, Counter({"CREATED": 400, "ERROR": 100}), [])
    rates = rates_of([quiet, busy])
    assert rates.published == pytest.approx(6 / 60 + 400 / 5)
    assert rates.delivered == pytest.approx(3 / 60)
    assert rates.failed_attempts == pytest.approx(20)
    assert rates.window_seconds == 5


def test_a_full_sample_covers_the_span_of_its_events() -> None:
    """At the limit, a sample covers from its oldest event to now, not the whole window."""
    entry = {b"m": b"msg_0_x", b"s": b"CREATED", b"h": b"{}", b"x": b"{}"}
    newest_first = [(b"9000-0", entry), (b"8000-0", entry)]
    full = activity._sample(0, newest_first, now_ms=10_000, window_ms=60_000, limit=2)
    assert (full.covered_ms, full.counts["CREATED"]) == (2_000, 2)
    partial = activity._sample(0, newest_first, now_ms=10_000, window_ms=60_000, limit=3)
    assert partial.covered_ms == 60_000
