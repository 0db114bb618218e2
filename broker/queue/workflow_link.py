"""The link from an invoked workflow run to the run that invoked it (`context.invoke`), and the
message that reports the child's end to its parent (docs/workflow.md, "Invoke").

The child's trigger stores its `Invoker` in the child's run config, in the child's partition.
Whatever ends the child (its finish, a cancel, a dead-lettered step, a trigger that reached no
workflow app) creates a *report* message in the same script that ends it: one ordinary message
of the child's partition, so a worker that dies right after the end loses nothing; the stream
hands the report to the next worker. Delivering a report sends no request: the worker appends
the invoke step's result to the parent run (broker/queue/workflow_invoke.py), at most once per
child run, in the parent's partition.

This module imports nothing of workflow_runs, which stores the link and creates the reports.
"""

from __future__ import annotations

import time

import msgspec

from broker.queue.keys import PartitionKeys, new_message_id
from broker.queue.model import Envelope
from broker.queue.producer import Draft

REPORT = "invokeResult"
"""The call type of a report message (never accepted from a request: broker/options.py)."""
REPORT_RETRIES = 20
"""A report is retried like a delivery when appending to the parent fails (Redis down)."""
MAX_INVOKE_DEPTH = 32
"""Most runs one chain of invokes may nest (a run that invokes itself would never stop)."""


class InvokeStep(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The invoke step's result step as the SDK sends it (`LazyInvokeStep.getResultStep`);
    the server fills in `out` when the child ends."""

    step_id: int
    step_name: str
    step_type: str
    concurrent: int
    target_step: int | None = None
    out: str | None = None


class Invoker(msgspec.Struct, frozen=True, kw_only=True):
    """The run that invoked this one: where its result goes, and how deep the chain is."""

    run_id: str
    url: str
    created_at: int
    step: InvokeStep
    depth: int


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """A report message's body: the child's end, as the parent's invoke step result."""

    child_run_id: str
    parent_run_id: str
    url: str
    step: InvokeStep


_json = msgspec.json.Encoder()
report_decoder = msgspec.json.Decoder(Report)

_STATES = {
    "RUN_SUCCESS": {},
    "RUN_FAILED": {"isFailed": True},
    "RUN_CANCELED": {"isCanceled": True},
}


def outcome(state: str, body: bytes) -> str:
    """The invoke step's `out`, the JSON text the SDK parses (`InvokeStepResponse`): `body`
    (the child's result, or why it failed), with `isFailed` or `isCanceled`."""
    fields: dict[str, object] = {"body": body.decode(errors="replace")} if body else {}
    return _json.encode(fields | _STATES.get(state, {"isFailed": True})).decode()


def report_draft(
    partition: PartitionKeys, child_run_id: str, invoker: Invoker, state: str, body: bytes
) -> Draft:
    """The report of child `child_run_id` ending in `state` (a message of its partition)."""
    now = int(time.time() * 1000)
    step = msgspec.structs.replace(invoker.step, out=outcome(state, body))
    report = Report(
        child_run_id=child_run_id, parent_run_id=invoker.run_id, url=invoker.url, step=step
    )
    envelope = Envelope(
        id=new_message_id(partition),
        url=invoker.url,
        retries=REPORT_RETRIES,
        created_at=now,
        not_before=now,
        workflow_run_id=child_run_id,
        workflow_call_type=REPORT,
    )
    return Draft(envelope, _json.encode(report))
