"""What one delivery attempt leads to: values, not exceptions (style.md rule 3)."""

from __future__ import annotations

from dataclasses import dataclass

from broker.queue.model import Response


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
