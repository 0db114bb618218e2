"""Retry decisions: QStash's schedule, expressions, hints, 489 and exhaustion."""

from __future__ import annotations

import pytest

from broker.queue.model import Envelope, Response
from workers.backoff import decide, default_backoff_ms, fallback, retry_hint_ms
from workers.outcome import DeadLetter, Delivered, RetryAt

NOW = 1_000_000


def envelope(**fields: object) -> Envelope:
    base: dict[str, object] = {
        "id": "msg_0_X",
        "url": "http://h/",
        "created_at": 0,
        "not_before": 0,
    }
    return Envelope(**(base | fields))  # type: ignore[arg-type]


def test_default_schedule_matches_qstash() -> None:
    """12 s, 2m28s, 30m8s, 6h7m, then one day."""
    assert [default_backoff_ms(n) // 1000 for n in range(1, 6)] == [12, 148, 1808, 22026, 86400]


def test_success() -> None:
    """Any 2xx is delivered."""
    assert isinstance(decide(envelope(), 1, Response(status=204), NOW), Delivered)


def test_retry_uses_default_backoff_and_time_scale() -> None:
    """A 500 on the first attempt retries after e^2.5 s, scaled for tests."""
    outcome = decide(envelope(retries=3), 1, Response(status=500), NOW, time_scale=0.5)
    assert isinstance(outcome, RetryAt)
    assert outcome.due_ms == NOW + default_backoff_ms(1) // 2
    assert outcome.reason == "http_error"


def test_retry_delay_expression_sees_zero_on_first_retry() -> None:
    """`retried` is 0 when computing the first retry's delay."""
    outcome = decide(envelope(retry_delay="1000 * (1 + retried)"), 2, Response(status=502), NOW)
    assert isinstance(outcome, RetryAt)
    assert outcome.due_ms == NOW + 2000


def test_exhausted_retries_dead_letter() -> None:
    """Attempt retries+1 failing ends in the DLQ."""
    outcome = decide(envelope(retries=2), 3, Response(status=500), NOW)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "retries_exhausted"


def test_non_retryable_489() -> None:
    """489 + Upstash-NonRetryable-Error: true skips the remaining retries."""
    response = Response(status=489, headers={"Upstash-NonRetryable-Error": ["true"]})
    assert isinstance(decide(envelope(retries=5), 1, response, NOW), DeadLetter)
    plain_489 = Response(status=489)
    assert isinstance(decide(envelope(retries=5), 1, plain_489, NOW), RetryAt)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": ["7"]}, 7000),
        ({"retry-after": ["6m5s"]}, 365_000),
        ({"Upstash-Retry-After": ["250ms"]}, 250),
        ({"X-RateLimit-Reset": ["0"]}, 0),
        ({"Retry-After": ["Thu, 01 Jan 1970 00:00:10 GMT"]}, 5000),
        ({"Retry-After": ["2d"]}, None),
        ({"Retry-After": ["whenever"]}, None),
        ({}, None),
    ],
)
def test_retry_hints(headers: dict[str, list[str]], expected: int | None) -> None:
    """Seconds, Go durations and HTTP dates; over a day is ignored."""
    assert retry_hint_ms(Response(status=429, headers=headers), now=5.0) == expected


def test_hint_overrides_backoff() -> None:
    """A 429 with Retry-After comes back when asked to."""
    response = Response(status=429, headers={"Retry-After": ["3"]})
    outcome = decide(envelope(), 1, response, NOW)
    assert isinstance(outcome, RetryAt)
    assert outcome.due_ms == NOW + 3000
    assert outcome.reason == "rate_limited"


def test_a_refused_destination_is_dead_lettered_at_once() -> None:
    """A destination the policy refuses never becomes reachable by retrying: no retry."""
    refused = Response(error="destination refused: destination 10.1.2.3 is a private address")
    assert decide(envelope(retries=5), 1, refused, NOW) == DeadLetter(refused, "rejected")


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (Response(status=500), "http_error"),
        (Response(status=429), "rate_limited"),
        (Response(status=503), "rate_limited"),
        (Response(error="timeout"), "timeout"),
        (Response(error="ClientConnectorError: refused"), "connect_error"),
    ],
)
def test_retry_reasons_name_the_failure(response: Response, reason: str) -> None:
    """Each kind of failure is retried under its own reason (the retries metric's label)."""
    outcome = decide(envelope(retries=5), 1, response, NOW)
    assert isinstance(outcome, RetryAt)
    assert outcome.reason == reason


def test_fallback_uses_the_default_schedule() -> None:
    """When decide() fails (e.g. a stored expression), the default backoff still applies."""
    failed = Response(error="internal error: ValueError()")
    assert fallback(envelope(retries=2), 1, failed, NOW) == RetryAt(
        failed, NOW + default_backoff_ms(1), "connect_error"
    )
    assert fallback(envelope(retries=0), 1, failed, NOW) == DeadLetter(failed, "retries_exhausted")
