"""Workflow runs in the delivery path (docs/workflow.md): what a run's message carries when it
is delivered, and what a dead-lettered step does to its run.

- `prepare`: a step's body becomes the run's raw steps up to and including it (rendered at
  delivery, so a retry sees the same list), and every message of a run carries the headers
  the SDK reads: `Upstash-Workflow-RunId`, and for steps `Upstash-Workflow-CreatedAt` and the
  run's `Upstash-Label`. The signature is computed later over exactly this body. An invoked
  run's report (broker/queue/workflow_link.py) sends no request: it appends the invoke's
  result to the parent run.
- `run_failure`: a step that ends in the DLQ fails its run (RUN_FAILED) and sends the run's
  failure callback, whose body carries the run id, its creation time and the initial payload
  as `sourceBody`, and an invoked run's report; all are written by the dead-letter settle
  itself (settle_failed.lua), so no crash comes between them.
- `settled`: a trigger answered 2xx without the SDK's version header (the SDK asked for this
  check with WF_DetectTrigger) reached no workflow app: the run fails with the SDK's
  "detected a non-workflow destination" error. A delivered failure callback is noted in its
  run for the workflow DLQ's `failureCallbackInfo` (broker/queue/workflow_dlq.py).
"""

from __future__ import annotations

import msgspec

from broker.queue import workflow_dlq, workflow_runs
from broker.queue.connection import Connection
from broker.queue.consumer import Attempt, Consumer, Settled, SettleResult
from broker.queue.model import FAILURE_CALL, Envelope, Response
from broker.queue.producer import Draft
from broker.queue.workflow_invoke import deliver_report
from broker.queue.workflow_link import REPORT
from workers.callbacks import workflow_failure_draft

_OWN_HEADERS = frozenset({"upstash-workflow-runid", "upstash-workflow-createdat"})


def is_involved(env: Envelope) -> bool:
    """Whether the message is one of a workflow run's, or a report to one: for any other
    `prepare` and `settled` have nothing to do, and the worker skips both (two coroutines
    a delivery on its hottest path)."""
    return env.workflow_run_id is not None or env.workflow_call_type is not None


async def prepare(conn: Connection, attempt: Attempt) -> tuple[Envelope, bytes | None]:
    """The envelope and body to send for this attempt (unchanged for other messages); body
    None when there is nothing to send: a wait's timeout that a notify overtook."""
    env = attempt.envelope
    if env.workflow_call_type == REPORT:  # an invoked run's end, for its parent: no request
        await deliver_report(conn, attempt.body)
        return env, None
    if env.workflow_run_id is None:
        return env, attempt.body
    headers = {k: v for k, v in env.headers.items() if k.lower() not in _OWN_HEADERS}
    headers["Upstash-Workflow-RunId"] = [env.workflow_run_id]
    if env.workflow_call_type != "step":  # a context.call, its callback, the failure callback
        return msgspec.structs.replace(env, headers=headers), attempt.body
    if env.workflow_created_at is not None:
        headers["Upstash-Workflow-CreatedAt"] = [str(env.workflow_created_at)]
    if env.labels:
        headers["Upstash-Label"] = [",".join(env.labels)]
    return msgspec.structs.replace(env, headers=headers), await workflow_runs.render(conn, env)


async def run_failure(
    consumer: Consumer, attempt: Attempt, response: Response
) -> tuple[Draft, ...] | None:
    """For a step about to be dead-lettered: its run's failure callback (empty when the run
    has none), which the dead-letter settle creates as it fails the run; None for a message
    that is no step of a run."""
    env = attempt.envelope
    if env.workflow_run_id is None or env.workflow_call_type != "step":
        return None
    spec, initial = await workflow_runs.failure_context(consumer.conn, env)
    why = response.body or response.error  # the app's answer, else why there was none
    reports = await workflow_runs.invoke_reports(
        consumer.conn, attempt.partition, env.workflow_run_id, workflow_runs.FAILED, why
    )
    if spec is None:
        return reports
    return (workflow_failure_draft(env, spec, initial, attempt.attempts, response), *reports)


async def settled(conn: Connection, attempt: Attempt, result: Settled, response: Response) -> None:
    """A trigger that reached something other than a workflow app fails its run
    (WF_DetectTrigger). (A dead-lettered step failed its run in its settle already.)"""
    env = attempt.envelope
    if result.result is SettleResult.DELIVERED and env.workflow_call_type == FAILURE_CALL:
        await workflow_dlq.record_delivered(conn, env, response)  # for failureCallbackInfo
    if result.result is SettleResult.DELIVERED and _no_workflow_answered(env, response):
        assert env.workflow_run_id is not None
        error = workflow_runs.NOT_A_WORKFLOW
        await workflow_runs.end(conn, env.workflow_run_id, workflow_runs.FAILED, error=error)


def _no_workflow_answered(env: Envelope, response: Response) -> bool:
    """Every answer of the SDK carries `Upstash-Workflow-Sdk-Version`."""
    if not env.workflow_detect_trigger:
        return False
    return all(name.lower() != "upstash-workflow-sdk-version" for name in response.headers)
