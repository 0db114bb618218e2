"""When to try again (qstash-api.md 6.1). Pure functions of the attempt and the answer."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

from broker.durations import parse_duration_ms
from broker.expressions import evaluate_delay_ms
from broker.queue.model import Envelope, Response
from workers.outcome import DeadLetter, Delivered, Failure, Outcome, RetryAt, failure_of

MAX_BACKOFF_MS = 86_400_000
# Response headers whose value says when to come back; the first one present wins.
RETRY_HINT_HEADERS = (
    "Upstash-Retry-After",
    "Retry-After",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-Requests",
    "X-RateLimit-Reset-Tokens",
)
NON_RETRYABLE_STATUS = 489


def default_backoff_ms(retries_done: int) -> int:
    """QStash's schedule: min(1 day, e^(2.5·n)) s with n = retries done, counting this one."""
    return min(MAX_BACKOFF_MS, int(math.exp(2.5 * retries_done) * 1000))


def retry_hint_ms(response: Response, now: float | None = None) -> int | None:
    """The delay a failed answer asks for, or None (absent, unparsable or over a day)."""
    for name in RETRY_HINT_HEADERS:
        values = _header(response, name)
        if values:
            delay = _parse_hint(values[0].strip(), time.time() if now is None else now)
            return delay if delay is not None and delay <= MAX_BACKOFF_MS else None
    return None


def _header(response: Response, name: str) -> list[str]:
    lowered = name.lower()
    return next((v for k, v in response.headers.items() if k.lower() == lowered), [])


def _parse_hint(value: str, now: float) -> int | None:
    try:
        return parse_duration_ms(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int((when.timestamp() - now) * 1000))


def fallback(
    envelope: Envelope, attempts: int, response: Response, now_ms: int, time_scale: float = 1.0
) -> Outcome:
    """The outcome when `decide` itself failed: the default schedule, no hints, no expression."""
    if attempts > envelope.retries:
        return DeadLetter(response, "retries_exhausted")
    due = now_ms + int(default_backoff_ms(attempts) * time_scale)
    return RetryAt(response, due, (failure_of(response) or Failure.HTTP_ERROR).value)


def is_non_retryable(response: Response) -> bool:
    """A 489 with `Upstash-NonRetryable-Error: true` ends retries at once."""
    flag = _header(response, "Upstash-NonRetryable-Error")
    return response.status == NON_RETRYABLE_STATUS and bool(flag) and flag[0].lower() == "true"


def decide(
    envelope: Envelope, attempts: int, response: Response, now_ms: int, time_scale: float = 1.0
) -> Outcome:
    """The outcome of attempt number `attempts` (1 = first) that got `response`."""
    failure = failure_of(response)
    if failure is None:
        return Delivered(response)
    if failure is Failure.REJECTED:
        return DeadLetter(response, "rejected")
    if is_non_retryable(response):
        return DeadLetter(response, "non_retryable")
    if attempts > envelope.retries:
        return DeadLetter(response, "retries_exhausted")
    hint = retry_hint_ms(response)
    if hint is not None:
        delay = hint
    elif envelope.retry_delay:
        delay = evaluate_delay_ms(envelope.retry_delay, attempts - 1)
    else:
        delay = default_backoff_ms(attempts)
    due = now_ms + int(min(delay, MAX_BACKOFF_MS) * time_scale)
    return RetryAt(response, due, failure.value)
