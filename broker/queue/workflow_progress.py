"""What the workflow logs show of a run beyond its record (docs/workflow.md, "The logs"):
its messages still under way (the `next` group), the dead letter that failed it, and its
failure callback. Read only for the runs of one logs page, never while scanning for one.

The run hash fields it reads: `fdlq`, `fstep` and `fcb` (written by settle_failed.lua when a
dead-lettered step fails the run) and `cxl` (the messages `workflow_runs.cancel` cancelled,
whose hashes are deleted with the cancel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.queue.connection import Connection
from broker.queue.model import State
from broker.queue.store import StoredMessage, load_messages
from broker.queue.workflow_runs import CANCELED, FAILED, RUNNING, Run, partition_of_run

NEXT_WINDOW = 64
"""The newest raw steps of a run whose messages are looked at for the `next` group: a run's
messages under way are its newest (a parallel group of up to this many steps included)."""

PAGE_CONCURRENCY = 16
"""Runs of one logs page whose progress is read at once."""

_ids = msgspec.json.Decoder(list[str])


@dataclass(frozen=True, slots=True)
class Pending:
    """A message of the run not delivered yet: its stored record, or None for one that the
    run's cancel deleted."""

    message_id: str
    stored: StoredMessage | None


@dataclass(frozen=True, slots=True)
class Progress:
    """The run's messages under way, its DLQ id, and its failure callback (when it failed a
    step and has one: the message id, and its record while it is kept)."""

    pending: list[Pending]
    dlq_id: str | None = None
    failed_step: StoredMessage | None = None
    failure_id: str | None = None
    failure: StoredMessage | None = None


async def progress_of_page(conn: Connection, runs: Sequence[Run]) -> list[Progress]:
    """The progress of each run of a logs page, PAGE_CONCURRENCY runs at a time: each is a
    few round trips, and a page must not take every connection of the pool."""
    found: list[Progress] = []
    for start in range(0, len(runs), PAGE_CONCURRENCY):
        chunk = runs[start : start + PAGE_CONCURRENCY]
        found += await asyncio.gather(*(progress(conn, run) for run in chunk))
    return found


async def progress(conn: Connection, run: Run) -> Progress:
    """The progress of a run as the logs show it (a finished run has nothing under way)."""
    if run.state not in (RUNNING, FAILED, CANCELED):
        return Progress([])
    keys = (await partition_of_run(conn, run.run_id)).workflow_run(run.run_id)
    fields: list[Any] = await conn.redis.hmget(keys["run"], "fdlq", "fstep", "fcb", "cxl")
    dlq, failed_step, failure_id, cancelled = (f.decode() if f else None for f in fields)
    if run.state == CANCELED:
        return Progress([Pending(i, None) for i in _ids.decode(cancelled or "[]")])
    window = [step.message_id for step in run.steps[-NEXT_WINDOW:]]
    extra = [i for i in (failed_step, failure_id) if i]
    stored = await load_messages(conn.redis, window + extra)
    found = dict(zip(window + extra, stored, strict=True))
    pending = [
        Pending(i, message)
        for i, message in zip(window, stored, strict=False)
        if message is not None and message.state != State.DELIVERED  # not yet, or failed
    ]
    failed = found.get(failed_step) if failed_step else None
    failure = found.get(failure_id) if failure_id else None
    return Progress(pending, dlq, failed, failure_id, failure)
