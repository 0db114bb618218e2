"""Workflow runs in the delivery path (docs/workflow.md): what a run's message carries when it
is delivered, and what a dead-lettered step does to its run.

- `prepare`: a step's body becomes the run's raw steps up to and including it (rendered at
  delivery, so a retry sees the same list), and every message of a run carries the headers
  the SDK reads: `Upstash-Workflow-RunId`, and for steps `Upstash-Workflow-CreatedAt` and the
  run's `Upstash-Label`. The signature is computed later over exactly this body.
- `settled`: a step that ended in the DLQ fails its run (RUN_FAILED) and sends the run's
  failure callback, whose body carries the run id, its creation time and the initial payload
  as `sourceBody`. A trigger answered 2xx without the SDK's version header (the SDK asked for
  this check with WF_DetectTrigger) reached no workflow app: the run fails with the SDK's
  "detected a non-workflow destination" error.
"""

from __future__ import annotations

import base64

import msgspec

from broker.queue import workflow_runs
from broker.queue.connection import Connection
from broker.queue.consumer import Attempt, Settled, SettleResult
from broker.queue.model import Envelope, Response
from broker.queue.producer import Draft
from workers.callbacks import callback_body, workflow_failure_draft

_OWN_HEADERS = frozenset({"upstash-workflow-runid", "upstash-workflow-createdat"})
_json = msgspec.json.Encoder()


async def prepare(conn: Connection, attempt: Attempt) -> tuple[Envelope, bytes | None]:
    """The envelope and body to send for this attempt (unchanged for other messages); body
    None when there is nothing to send: a wait's timeout that a notify overtook."""
    env = attempt.envelope
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


async def settled(conn: Connection, attempt: Attempt, result: Settled, response: Response) -> None:
    """A dead-lettered step fails its run, once, with the run's failure callback; so does a
    trigger that reached something other than a workflow app (WF_DetectTrigger)."""
    env = attempt.envelope
    if result.result is SettleResult.DELIVERED and _no_workflow_answered(env, response):
        assert env.workflow_run_id is not None
        error = workflow_runs.NOT_A_WORKFLOW
        await workflow_runs.end(conn, env.workflow_run_id, workflow_runs.FAILED, error=error)
        return
    if result.result is not SettleResult.DEAD_LETTERED or env.workflow_call_type != "step":
        return
    assert env.workflow_run_id is not None
    run = await workflow_runs.load(conn, env.workflow_run_id)
    if run is None:
        return
    drafts: tuple[Draft, ...] = ()
    spec = run.config.failure_callback
    if spec is not None:
        initial = base64.b64decode(run.steps[0].body) if run.steps else b""
        body = callback_body(env, initial, attempt.attempts, response, dlq_id=result.dlq_id)
        drafts = (workflow_failure_draft(env, spec, _json.encode(body)),)
    await workflow_runs.end(conn, env.workflow_run_id, workflow_runs.FAILED, drafts=drafts)


def _no_workflow_answered(env: Envelope, response: Response) -> bool:
    """Every answer of the SDK carries `Upstash-Workflow-Sdk-Version`."""
    if not env.workflow_detect_trigger:
        return False
    return all(name.lower() != "upstash-workflow-sdk-version" for name in response.headers)
