"""What one delivery attempt leads to: values, not exceptions (style.md rule 3)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from broker.queue.model import Response

# How `send` marks the failures that have no HTTP status, in Response.error.
TIMEOUT_ERROR = "timeout"
REFUSED_PREFIX = "destination refused: "


class Failure(StrEnum):
    """Why an attempt failed: the metric label of deliveries and retries alike."""

    HTTP_ERROR = "http_error"
    RATE_LIMITED = "rate_limited"  # 429 or 503: the destination asked us to slow down
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    REJECTED = "rejected"  # the destination policy refused the address: never retried


def failure_of(response: Response) -> Failure | None:
    """The kind of failure a response is, or None for a 2xx."""
    if 200 <= response.status < 300:
        return None
    if response.status:
        return Failure.RATE_LIMITED if response.status in (429, 503) else Failure.HTTP_ERROR
    if response.error == TIMEOUT_ERROR:
        return Failure.TIMEOUT
    if response.error.startswith(REFUSED_PREFIX):
        return Failure.REJECTED
    return Failure.CONNECT_ERROR


@dataclass(frozen=True, slots=True)
class Delivered:
    """The destination answered 2xx."""

    response: Response


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at `due_ms` (Redis/unix ms)."""

    response: Response
    due_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """No more attempts: retries exhausted or the destination said non-retryable (489)."""

    response: Response
    reason: str


Outcome = Delivered | RetryAt | DeadLetter
