"""Outcome → one settle call (ack plus the next state, atomically), and the metrics of what
it actually did: a settle that found the entry stolen or gone changed nothing, so it counts
no retry, dead letter or callback."""

from __future__ import annotations

from broker.metrics import DEAD_LETTERED, RETRIES, count_published
from broker.queue import workflow_runs
from broker.queue.consumer import Attempt, Consumer, Settled, SettleResult
from workers import workflow
from workers.callbacks import attempt_callback, failure_callback
from workers.outcome import DeadLetter, Delivered, Outcome, RetryAt


async def settle(consumer: Consumer, attempt: Attempt, outcome: Outcome) -> Settled:
    """Apply the outcome; returns what the settle script did."""
    env, body, attempts = attempt.envelope, attempt.body, attempt.attempts
    callbacks = attempt_callback(env, body, attempts, outcome.response)
    match outcome:
        case Delivered(response=response):
            settled = await consumer.settle_delivered(attempt, response, callbacks)
        case RetryAt(response=response, due_ms=due):
            settled = await consumer.settle_retry(attempt, due, response, callbacks)
        case DeadLetter(response=response):
            callbacks += failure_callback(env, body, attempts, response)
            run = await workflow.run_failure(consumer, attempt, response)  # None unless a step
            settled = await consumer.settle_failed(attempt, response, callbacks, run_failure=run)
            if settled.run_failed and env.workflow_run_id is not None:
                workflow_runs.ended(env.workflow_run_id, workflow_runs.FAILED, "step failed")
    _count(settled, outcome, len(callbacks))
    return settled


def _count(settled: Settled, outcome: Outcome, callbacks: int) -> None:
    """Metrics from the settle result, never from the intent."""
    match settled.result, outcome:
        case SettleResult.RETRYING, RetryAt(reason=reason):
            RETRIES.labels(reason).inc()
        case SettleResult.DEAD_LETTERED, _:
            DEAD_LETTERED.inc()
        case SettleResult.DELIVERED, _:
            pass
        case SettleResult.CANCELLED, RetryAt():
            pass  # the failed attempt's callback was stored before the cancel was found
        case _:
            return  # gone, stolen, or cancelled before any callback was stored
    if callbacks:
        count_published("callback", callbacks)
