"""The workflow DLQ (docs/workflow.md): a failed run's dead-lettered step, the state of its
failure callback, and the three ways on from it: resume, restart, send the callback again.

The step that fails a run is dead-lettered in the run's partition, by the script
(settle_failed.lua) that also ends the run RUN_FAILED, creates its failure callback and notes
in the run hash the entry that failed it (`fdlq`) and that callback's message id (`fcb`). Once
the callback is delivered, `record_delivered` notes its answer (`fcs`), which outlives the
delivered message. Each action below is one script in that partition, whose first check is
the DLQ entry itself:

- resume: the run runs again with its steps kept and the failed step published anew (its raw
  step now names the new message), and the entry goes; a second resume finds it gone.
- restart: a new run, under a fresh id that hashes to the same partition, from the first
  run's initial body and settings; the entry goes.
- retry the failure callback: only while the run's callback is FAILED; the entry stays (the
  run is still failed), and the callback's own DLQ entry goes.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.errors import BadRequest, NotFound, QueueError
from broker.queue import scripts, workflow_runs
from broker.queue.connection import Connection
from broker.queue.dlq import DlqEntry, load_entry
from broker.queue.flow_control import apply_message_settings
from broker.queue.keys import (
    PartitionKeys,
    keys_for,
    new_message_id,
    parse_dlq_id,
    run_partition,
)
from broker.queue.model import (
    Envelope,
    Response,
    State,
    decode_response,
    encode,
)
from broker.queue.producer import Draft, messages_tail
from broker.queue.store import StoredMessage, load_message

SUCCESS = "CALLBACK_SUCCESS"
FAIL = "CALLBACK_FAIL"
IN_PROGRESS = "CALLBACK_INPROGRESS"
CANCELED = "CALLBACK_CANCELED"
CALLBACK_STATES = (SUCCESS, FAIL, IN_PROGRESS, CANCELED)
_BY_MESSAGE_STATE = {
    State.DELIVERED: SUCCESS,
    State.FAILED: FAIL,
    State.CANCEL_REQUESTED: CANCELED,
    State.CANCELED: CANCELED,
}

_config_encoder = msgspec.msgpack.Encoder()
_config_decoder = msgspec.msgpack.Decoder(workflow_runs.RunConfig)
_raw_steps = msgspec.json.Decoder(workflow_runs.RawStep)
_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class FailedStep:
    """A DLQ entry of a workflow step, with the message and the run it names."""

    entry: DlqEntry
    message: StoredMessage
    run_id: str

    @property
    def run_keys(self) -> dict[str, str]:
        return self.entry.partition.workflow_run(self.run_id)


def failed_step(entry: DlqEntry, message: StoredMessage | None) -> FailedStep | None:
    """The entry as a failed step of a run; None for any other dead-lettered message (a
    failure callback, a context.call, a plain message): those are no run's failure."""
    env = message.envelope if message is not None else None
    if message is None or env is None or env.workflow_run_id is None:
        return None
    if env.workflow_call_type not in (None, "step"):
        return None
    return FailedStep(entry, message, env.workflow_run_id)


async def load_failed_step(conn: Connection, entry: DlqEntry) -> FailedStep:
    """The failed step behind an entry, or a 404 (expired) / 400 (no workflow step)."""
    message = await load_entry(conn.redis, entry)
    if message is None:
        raise NotFound(f"dlq entry {entry.dlq_id} not found")
    step = failed_step(entry, message)
    if step is None:
        raise BadRequest(f"dlq entry {entry.dlq_id} is not a failed workflow step")
    return step


@dataclass(frozen=True, slots=True)
class CallbackInfo:
    """Where the failure callback of the run an entry failed stands."""

    state: str
    response: Response | None
    url: str

    def view(self) -> dict[str, Any]:
        """`failureCallbackInfo` as the SDK types it."""
        shown: dict[str, Any] = {"state": self.state}
        if self.response is not None:
            shown |= {
                "responseStatus": self.response.status,
                "responseBody": self.response.body.decode(errors="replace"),
                "responseHeaders": self.response.headers,
            }
        return shown


async def callback_info(conn: Connection, step: FailedStep) -> CallbackInfo | None:
    """The state of the failure callback this entry's failure created; None when it created
    none (no failure function, or another entry failed the run) or its record is gone."""
    fields: list[Any] = await conn.redis.hmget(step.run_keys["run"], "fdlq", "fcb", "fcs", "c")
    failed_by, callback_id, delivered, config = fields
    if None in (failed_by, callback_id, config) or failed_by.decode() != step.entry.dlq_id:
        return None
    spec = _config_decoder.decode(config).failure_callback
    url = spec.url if spec is not None else ""
    if delivered is not None:
        return CallbackInfo(SUCCESS, decode_response(delivered), url)
    callback = await load_message(conn.redis, callback_id.decode())
    if callback is None:
        return None
    state = _BY_MESSAGE_STATE.get(State(callback.state), IN_PROGRESS)
    return CallbackInfo(state, callback.last_response if state == FAIL else None, url)


async def record_delivered(conn: Connection, callback: Envelope, response: Response) -> None:
    """Note a delivered failure callback in its run (if it is still the run's)."""
    assert callback.workflow_run_id is not None
    partition = keys_for(callback.id)  # a run's messages live where the run does
    keys = {"run": partition.workflow_run(callback.workflow_run_id)["run"]}
    args: dict[str, scripts.Arg] = {"callback_id": callback.id, "record": encode(response)}
    await conn.scripts.call(scripts.WORKFLOW_DLQ_RECORD, partition, keys, args)


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """What a resume or restart request may change: the retries (Upstash-Retries)."""

    retries: int | None = None

    def config(self, config: workflow_runs.RunConfig) -> workflow_runs.RunConfig:
        if self.retries is None:
            return config
        return msgspec.structs.replace(config, retries=self.retries)


@dataclass(frozen=True, slots=True)
class Started:
    """The run a resume, restart or callback retry answers with."""

    run_id: str
    created_at: int

    def view(self) -> dict[str, Any]:
        return {"workflowRunId": self.run_id, "workflowCreatedAt": self.created_at}


async def _run_config(conn: Connection, step: FailedStep) -> tuple[workflow_runs.RunConfig, int]:
    stored: list[Any] = await conn.redis.hmget(step.run_keys["run"], "c", "created")
    if stored[0] is None:
        raise BadRequest(
            f"workflow run {step.run_id} of dlq entry {step.entry.dlq_id} has expired "
            "(HOOKSTREAM_WORKFLOW_RETENTION)"
        )
    return _config_decoder.decode(stored[0]), int(stored[1])


def _now_ms() -> int:
    return int(time.time() * 1000)


_RESUME_ERRORS = {
    "state": "workflow run {run} has succeeded or was cancelled: only a failed run resumes",
    "changed": "dlq entry {dlq} no longer names a step of workflow run {run}",
}


async def resume(conn: Connection, step: FailedStep, overrides: Overrides) -> Started:
    """Run the failed run on from this step: the step is published again, the entry goes."""
    config, created = await _run_config(conn, step)
    partition, old = step.entry.partition, step.message.envelope
    stored_index = await conn.redis.hget(partition.message(old.id), "wfi")  # its list place
    index = int(stored_index) if stored_index is not None else -1
    raw = await conn.redis.lindex(step.run_keys["steps"], index) if index >= 0 else None
    if raw is None:
        raise _refusal("changed", step, _RESUME_ERRORS)
    before = _raw_steps.decode(raw)
    config = overrides.config(config)
    now, new_id = _now_ms(), new_message_id(partition)
    env = msgspec.structs.replace(
        old, id=new_id, created_at=now, not_before=now, retries=config.retries
    )
    await apply_message_settings(conn, env)  # an idle flow-control gate may have expired
    keys = partition.gate(None, env.flow_control_key) | step.run_keys
    keys["old_message"] = partition.message(old.id)
    args: dict[str, scripts.Arg] = {
        "stream_id": step.entry.stream_id,
        "index": index,
        "step": _json.encode(workflow_runs.RawStep(new_id, before.body, before.call_type)),
        "config": _config_encoder.encode(config),
        "idle_ms": workflow_runs.idle_ms(conn),
    }
    draft = Draft(env, step.message.body or b"")
    reply = await conn.scripts.call(
        scripts.WORKFLOW_DLQ_RESUME, partition, keys, args, *messages_tail([draft])
    )
    if reply != b"ok":
        raise _refusal(reply.decode(), step, _RESUME_ERRORS)
    return Started(step.run_id, created)


def _refusal(reply: str, step: FailedStep, errors: dict[str, str]) -> QueueError:
    """Why a script refused (its reply): the entry is gone (404), or `errors[reply]` (400)."""
    if reply == "gone":
        return NotFound(f"dlq entry {step.entry.dlq_id} not found")
    return BadRequest(errors[reply].format(dlq=step.entry.dlq_id, run=step.run_id))


def fresh_run_id(partition: PartitionKeys, partitions: int) -> str:
    """A new run id (the SDK's `wfr_` and 21 URL-safe characters) whose own partition is
    `partition`, so the new run and the entry it replaces share one script."""
    for _ in range(1000 * partitions):
        run_id = "wfr_" + secrets.token_urlsafe(16)[:21]
        if run_partition(run_id, partitions) == partition:
            return run_id
    raise AssertionError(f"no run id found for partition {partition.partition}")


async def restart(conn: Connection, step: FailedStep, overrides: Overrides) -> Started:
    """A new run from the failed run's initial body and settings; the entry goes."""
    config, _ = await _run_config(conn, step)
    first = await conn.redis.lindex(step.run_keys["steps"], 0)
    if first is None:
        raise BadRequest(f"workflow run {step.run_id} has no initial body any more")
    partition = step.entry.partition
    run_id = fresh_run_id(partition, conn.settings.partitions)
    config = overrides.config(config)
    if config.failure_callback is not None:  # the callback reports to the new run
        failure = msgspec.structs.replace(config.failure_callback, workflow_run_id=run_id)
        config = msgspec.structs.replace(config, failure_callback=failure)
    now, message_id = _now_ms(), new_message_id(partition)
    env = workflow_runs.inherit(
        msgspec.structs.replace(
            step.message.envelope,
            id=message_id,
            url=config.url,
            headers={},
            timeout_ms=config.timeout_ms,
            created_at=now,
            not_before=now,
            workflow_run_id=run_id,
            workflow_created_at=now,
        ),
        config,
    )
    await apply_message_settings(conn, env)
    body = base64.b64decode(_raw_steps.decode(first).body)
    keys = partition.gate(None, env.flow_control_key) | partition.workflow_run(run_id)
    old_message = partition.message(step.message.envelope.id)
    keys |= {"runs": partition.workflow_runs, "old_message": old_message}
    args: dict[str, scripts.Arg] = {
        "gated": "1" if env.flow_control_key else "0",
        "run_id": run_id,
        "config": _config_encoder.encode(config),
        "created_ms": now,
        "step": _json.encode(workflow_runs.RawStep(message_id, _b64(body), "step")),
        "idle_ms": workflow_runs.idle_ms(conn),
        "stream_id": step.entry.stream_id,
    }
    started, _ = await conn.scripts.call(
        scripts.WORKFLOW_DLQ_RESTART, partition, keys, args, *messages_tail([Draft(env, body)])
    )
    if not started:
        raise NotFound(f"dlq entry {step.entry.dlq_id} not found")
    return Started(run_id, now)


def _b64(body: bytes) -> str:
    return base64.b64encode(body).decode()


_CALLBACK_ERRORS = {
    "none": "workflow run {run} of dlq entry {dlq} has no failure callback to send again",
    "busy": "the failure callback of workflow run {run} has not failed: nothing to send again",
}


async def retry_failure_callback(conn: Connection, step: FailedStep) -> Started:
    """Send the run's failed failure callback again, as a new message."""
    _, created = await _run_config(conn, step)
    fields: list[Any] = await conn.redis.hmget(step.run_keys["run"], "fdlq", "fcb")
    if fields[1] is None or fields[0] is None or fields[0].decode() != step.entry.dlq_id:
        raise _refusal("none", step, _CALLBACK_ERRORS)
    callback = await load_message(conn.redis, fields[1].decode())
    if callback is None or callback.state != State.FAILED:
        raise _refusal("busy", step, _CALLBACK_ERRORS)
    partition, now = step.entry.partition, _now_ms()
    env = msgspec.structs.replace(
        callback.envelope, id=new_message_id(partition), created_at=now, not_before=now
    )
    keys = {"run": step.run_keys["run"], "callback": partition.message(callback.envelope.id)}
    args: dict[str, scripts.Arg] = {
        "stream_id": step.entry.stream_id,
        "callback_id": callback.envelope.id,
        "callback_stream_id": parse_dlq_id(callback.dlq_id)[1] if callback.dlq_id else "",
    }
    draft = Draft(env, callback.body or b"")
    reply = await conn.scripts.call(
        scripts.WORKFLOW_DLQ_CALLBACK, partition, keys, args, *messages_tail([draft])
    )
    if reply != b"ok":
        raise _refusal(reply.decode(), step, _CALLBACK_ERRORS)
    return Started(step.run_id, created)
