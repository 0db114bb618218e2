"""Settle counts retries, dead letters and callbacks from what the script did, not intent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from broker.metrics import DEAD_LETTERED, PUBLISHED, RETRIES
from broker.queue.consumer import Attempt, Settled, SettleResult
from broker.queue.keys import PartitionKeys
from broker.queue.model import CallbackSpec, Envelope, Response
from broker.queue.producer import Draft
from workers.outcome import DeadLetter, Outcome, RetryAt
from workers.settle import settle


class _Consumer:
    """Answers every settle with a fixed result and records the callbacks it was given."""

    def __init__(self, result: Settled) -> None:
        self.result = result
        self.callbacks: list[Draft] = []

    async def _answer(self, *args: Any, **_: Any) -> Settled:
        callbacks: Sequence[Draft] = args[-1]
        self.callbacks = list(callbacks)
        return self.result

    settle_delivered = settle_retry = settle_failed = _answer


def _attempt() -> Attempt:
    envelope = Envelope(
        id="msg_0_01J00000000000000000000000",
        url="https://example.com",
        created_at=1,
        not_before=1,
        callback=CallbackSpec(url="https://cb.example"),
        failure_callback=CallbackSpec(url="https://cb.example/failed"),
    )
    return Attempt(PartitionKeys(0), "1-0", envelope, b"body", attempts=1)


def _values() -> tuple[float, float, float]:
    return (
        RETRIES.labels("http_error").value,
        DEAD_LETTERED.labels().value,
        PUBLISHED.labels("callback").value,
    )


FAILED = Response(status=500)


@pytest.mark.parametrize(
    ("outcome", "result", "counted"),
    [
        (RetryAt(FAILED, 5, "http_error"), Settled(SettleResult.RETRYING), (1, 0, 1)),
        (RetryAt(FAILED, 5, "http_error"), Settled(SettleResult.STOLEN), (0, 0, 0)),
        (RetryAt(FAILED, 5, "http_error"), Settled(SettleResult.GONE), (0, 0, 0)),
        (DeadLetter(FAILED, "exhausted"), Settled(SettleResult.DEAD_LETTERED, "1-0-0"), (0, 1, 2)),
        (DeadLetter(FAILED, "exhausted"), Settled(SettleResult.STOLEN), (0, 0, 0)),
        (DeadLetter(FAILED, "exhausted"), Settled(SettleResult.CANCELLED), (0, 0, 0)),
    ],
)
async def test_metrics_follow_the_settle_result(
    outcome: Outcome, result: Settled, counted: tuple[int, int, int]
) -> None:
    """A stolen, gone or cancelled settle changed nothing, so it counts nothing."""
    consumer = _Consumer(result)
    before = _values()
    assert await settle(consumer, _attempt(), outcome) == result  # type: ignore[arg-type]
    after = _values()
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == counted
    assert len(consumer.callbacks) == (2 if isinstance(outcome, DeadLetter) else 1)
