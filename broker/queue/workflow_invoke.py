"""`context.invoke`: a run starts a child run and gets its end as the invoke step's result
(docs/workflow.md, "Invoke").

- `start`: the SDK publishes the child's trigger (`Upstash-Workflow-Init: true` with
  `Upstash-Workflow-Invoke: true`) to the invoked workflow's URL, with the child's run id,
  retries, flow control, labels and forwarded headers as for any trigger. Its body is the SDK's
  `InvokeWorkflowRequest`: the child's payload as `body`, and the invoker (`workflowRunId`,
  `workflowUrl`, the invoke `step`). The child run starts with `body` as its payload and the
  invoker stored in its config: the link lives on the child, in the child's partition.
- `deliver_report`: the child's end created a report message (broker/queue/workflow_link.py);
  delivering it appends `{...step, out}` to the parent run as an ordinary step of the parent,
  which inherits the parent's config and goes to the parent's URL. The append is keyed by the
  invoke step's id in the parent's run hash, so a report delivered twice (its worker died
  after the append) appends once, and so does the report of a second child of the same step
  (the parent's delivery was retried after it had published the invoke: the SDK then
  publishes it again, with a fresh child run id).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import msgspec

from broker.errors import BadRequest
from broker.queue import workflow_runs
from broker.queue.connection import Connection
from broker.queue.destinations import validate_url
from broker.queue.keys import new_message_id
from broker.queue.model import Envelope, WorkflowHeaders
from broker.queue.names import check_name
from broker.queue.producer import Draft
from broker.queue.workflow_link import MAX_INVOKE_DEPTH, Invoker, InvokeStep, report_decoder

MAX_STEP_NAME = 1000
"""Longest invoke step name kept (it travels back to the parent in the result step)."""
MAX_CONCURRENT = 1000
"""Most parallel steps an invoke step may claim to share a Promise.all with."""


class InvokeRequest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The SDK's `InvokeWorkflowRequest` (`LazyInvokeStep.getBody`). Its `headers` are the
    invoker's publish headers; the result step takes the parent run's own instead."""

    workflow_run_id: str
    workflow_url: str
    workflow_run_created_at: int
    step: InvokeStep
    body: str | None = None
    headers: dict[str, list[str]] = {}


_request = msgspec.json.Decoder(InvokeRequest)


async def start(conn: Connection, draft: Draft, headers: WorkflowHeaders) -> str | None:
    """Start the child run of an invoke (like `workflow_runs.trigger`: None, or the first
    message id of an earlier run with the child's id). A 400 for a request that is not an
    invoke request, a parent that is not running, or a chain deeper than MAX_INVOKE_DEPTH."""
    request = _decode(draft.body)
    parent_id = check_name("workflow_run_id", request.workflow_run_id, "workflowRunId")
    found = await _running(conn, parent_id)
    if found is None:
        raise BadRequest(f"the invoking workflow run {parent_id} is not running")
    config, created = found
    depth = (config.invoker.depth if config.invoker else 0) + 1
    if depth > MAX_INVOKE_DEPTH:
        raise BadRequest(f"invokes nest at most {MAX_INVOKE_DEPTH} runs deep")
    url = validate_url(request.workflow_url, "workflowUrl", conn.settings.destination_policy)
    invoker = Invoker(run_id=parent_id, url=url, created_at=created, step=request.step, depth=depth)
    child = replace(draft, body=(request.body or "").encode())
    return await workflow_runs.trigger(conn, child, headers, invoker=invoker)


async def _running(conn: Connection, run_id: str) -> tuple[workflow_runs.RunConfig, int] | None:
    found = await workflow_runs.run_config(conn, run_id)
    if found is None:
        return None
    home, config, created = found
    state: Any = await conn.redis.hget(home.workflow_run(run_id)["run"], "state")
    return (config, created) if state == workflow_runs.RUNNING.encode() else None


def _decode(body: bytes) -> InvokeRequest:
    try:
        request = _request.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise BadRequest(f"invalid invoke request: {exc}") from None
    step = request.step
    if step.step_type != "Invoke" or step.out is not None:
        raise BadRequest("an invoke request's step must be an Invoke result step without out")
    if not 0 < step.step_id < 2**31 or not 0 < step.concurrent <= MAX_CONCURRENT:
        raise BadRequest("an invoke request's stepId or concurrent is out of range")
    if not step.step_name or len(step.step_name) > MAX_STEP_NAME:
        raise BadRequest(f"an invoke step name is 1 to {MAX_STEP_NAME} characters")
    return request


async def deliver_report(conn: Connection, body: bytes) -> None:
    """Append a child's end to its parent run, once; nothing when the parent has ended (or
    is gone): no run is left to continue."""
    report = report_decoder.decode(body)
    found = await workflow_runs.run_config(conn, report.parent_run_id)
    if found is None:
        return
    home, config, _ = found
    now = int(time.time() * 1000)
    envelope = Envelope(
        id=new_message_id(home),
        url=report.url,
        timeout_ms=config.timeout_ms,
        created_at=now,
        not_before=now,
    )
    step = Draft(envelope, _json.encode(report.step))
    run = WorkflowHeaders(run_id=report.parent_run_id, init=False)
    try:
        await workflow_runs.append(conn, step, run, once=f"invoked:{report.step.step_id}")
    except BadRequest:  # the parent ended meanwhile, or is full: nothing to continue
        return


_json = msgspec.json.Encoder()
