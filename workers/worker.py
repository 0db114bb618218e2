"""The delivery worker: read → start → send → settle, per partition, with bounded concurrency.

The read loop also reclaims entries a dead worker left pending. Background loops keep the
rest moving: promote (delayed → ready), heartbeat (keep our own long deliveries from being
reclaimed), gauges (backlog from Redis), retention, housekeeping (idle flow-control keys, dead
workers' consumer names), and a signing-key refresh (rotation takes effect without restarts).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
import structlog

from broker.lifecycle import pause, process_name
from broker.metrics import (
    CONCURRENCY,
    DELIVERY_DURATION,
    DELIVERY_WAIT,
    INFLIGHT,
    SCRAPE_HOOKS,
    count_delivery,
    count_step_delivery,
)
from broker.queue.backlog import trim_retention
from broker.queue.connection import Connection
from broker.queue.consumer import (
    Attempt,
    CancelledInGate,
    Consumer,
    DelayedHeads,
    DueForGate,
    Entry,
)
from broker.queue.housekeeping import expire_idle_flow_keys, remove_dead_consumers
from broker.queue.keys import PartitionKeys
from broker.queue.model import Response
from broker.queue.signing_keys import RotationFeed, current_keys
from broker.settings import Settings
from workers import workflow
from workers.backoff import decide, fallback
from workers.capacity import Capacity
from workers.delivery import send
from workers.egress import make_connector
from workers.gauges import BacklogSampler
from workers.outcome import DeadLetter, Failure, Outcome, failure_of
from workers.settle import settle

log = structlog.get_logger()
# A partition with work blocks briefly (holding the slots it asked for); an idle one
# holds none and blocks long: its idle cost is one command per idle block (idle_block_ms).
# Stopping unblocks both at once.
READ_BLOCK_MS = 1000
IDLE_BLOCK_CEILING_MS = 30_000
# What an idle block leaves of the socket timeout, which a block reaching it would turn into
# an error and a reconnect: room for a loaded server's late reply.
IDLE_BLOCK_MARGIN_MS = 1500
READ_BATCH = 100
# A busy partition reads once an eighth of the slots (at most its share) is free, not at the
# first free one: every read costs an XREADGROUP and a start script whatever it returns, and
# reads of the one or two slots the last answers freed cost a draining worker 13% more CPU per
# delivery, and Redis 17% more, than reads of eight (docs/performance-log.md, 2026-12-03).
# At most an eighth of the slots wait for the batch, and only while all the others are busy.
READ_LEAST_SHARE = 8
KEY_REFRESH_SECONDS = 5.0
# How long a stopping worker waits, after the grace period, for deliveries already settling.
SETTLE_GRACE_SECONDS = 2.0
RETENTION_SECONDS = 60.0
HOUSEKEEPING_SECONDS = 60.0
# Acked entries stay in a ready stream until a trim (Consumer.trim_acked) drops them: about
# a second's worth of deliveries, in exchange for no XDEL per settle.
READY_TRIM_SECONDS = 1.0
# The safety sweep's lease, as a share of the promote interval: shorter than the interval,
# so the next worker whose interval runs out always finds it expired.
SWEEP_LEASE = 0.9


def idle_block_ms(settings: Settings) -> int:
    """How long an idle partition's read blocks: as long as the socket timeout allows (3.5 s
    at a 5 s timeout, 8.5 s at the default 10 s), at least READ_BLOCK_MS."""
    longest = settings.redis_timeout_ms - IDLE_BLOCK_MARGIN_MS
    return max(READ_BLOCK_MS, min(IDLE_BLOCK_CEILING_MS, longest))


class Worker:
    """One worker process's delivery machinery."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.settings = conn.settings
        self.consumer = Consumer(conn, process_name())
        self._capacity = Capacity(self.settings.worker_concurrency, self.settings.partitions)
        self._read_least = max(1, self.settings.worker_concurrency // READ_LEAST_SHARE)
        self._inflight: dict[int, set[str]] = {p.partition: set() for p in conn.partitions}
        self._tasks: set[asyncio.Task[None]] = set()
        self._settling: set[asyncio.Task[Any]] = set()
        self._readers = {p.partition: self.consumer.reader(p) for p in conn.partitions}
        self._stopping = asyncio.Event()
        self._signing_key = ""
        self._session: aiohttp.ClientSession | None = None
        self._idle_block_ms = idle_block_ms(self.settings)
        self._gauges = BacklogSampler(conn)
        # Asked once: a filtered-out debug call still costs ~1 µs a delivery (the logger's
        # proxy and the arguments), docs/performance-log.md.
        self._log_settles = log.bind().is_enabled_for(logging.DEBUG)

    async def run(self) -> None:
        """Serve until stop() is called, then drain within the shutdown grace period."""
        await self.conn.ensure_groups()
        await self._refresh_signing_key()
        CONCURRENCY.set(self.settings.worker_concurrency)
        # Read when scraped, instead of a locked inc and dec around every delivery.
        INFLIGHT.set_function(lambda: len(self._tasks))
        # Every connection passes the destination policy at connect time, on the very address
        # dialled, so names that resolve to a denied address (and DNS rebinding) are refused.
        connector = make_connector(
            self.settings.destination_policy, limit=0, ttl_dns_cache=60, enable_cleanup_closed=True
        )
        # No cookie jar: a Set-Cookie of one destination must not ride along on the next
        # delivery (a message's headers are its publisher's alone), and filtering an empty
        # jar is per-request work for nothing.
        async with aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:
            self._session = session
            loops = [self._read_loop(p) for p in self.conn.partitions]
            loops += [self._promote_loop(), self._heartbeat_loop()]
            loops += [self._every(KEY_REFRESH_SECONDS, self._refresh_signing_key)]
            loops += [self._follow_rotations()]
            loops += [self._every(RETENTION_SECONDS, lambda: trim_retention(self.conn))]
            loops += [self._every(READY_TRIM_SECONDS, self.consumer.trim_acked)]
            loops += [self._every(HOUSEKEEPING_SECONDS, self._housekeeping)]
            log.info("worker.started", consumer=self.consumer.name)
            background = [asyncio.create_task(loop) for loop in loops]
            SCRAPE_HOOKS.add(self._gauges)
            try:
                await self._stopping.wait()
            finally:
                SCRAPE_HOOKS.discard(self._gauges)
            await self._drain(background)
            for reader in self._readers.values():
                await reader.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _drain(self, background: list[asyncio.Task[None]]) -> None:
        """Stop reading, give in-flight deliveries the grace period, leave the rest pending.

        Loops end by themselves once `_stopping` is set (a blocked XREADGROUP returns within
        its idle block, and at once when CLIENT UNBLOCK reaches them), so no Redis command is
        cancelled halfway.
        """
        try:
            await self.consumer.unblock(list(self._readers.values()))
        except Exception:  # they still end within their block
            log.exception("worker.unblock_failed")
        _, stuck = await asyncio.wait(background, timeout=self._idle_block_ms / 1000 + 5)
        for task in stuck:
            task.cancel()
        if self._tasks:
            log.info("worker.draining", inflight=len(self._tasks))
            _, late = await asyncio.wait(
                self._tasks, timeout=self.settings.shutdown_grace_ms / 1000
            )
            # A delivery still waiting on its destination is cut; one already settling
            # finishes (a script call or two), so its outcome is neither lost nor half
            # applied (its metrics, a workflow trigger's check).
            for task in late - self._settling:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=SETTLE_GRACE_SECONDS)
        try:  # what the last settles acked, instead of leaving it to the next worker's trim
            await self.consumer.trim_acked()
        except Exception:
            log.exception("worker.trim_failed")
        log.info("worker.stopped", consumer=self.consumer.name)

    async def _pause(self, seconds: float) -> bool:
        """Sleep, but wake at once on stop; True when the worker is stopping."""
        return await pause(self._stopping, seconds)

    async def _every(self, seconds: float, action: Any) -> None:
        while not await self._pause(seconds):
            try:
                await action()
            except Exception:
                log.exception("worker.background_failed")

    async def _housekeeping(self) -> None:
        """Delete idle, empty flow-control keys and dead workers' consumer names
        (broker/queue/housekeeping.py)."""
        expired = await expire_idle_flow_keys(self.conn)
        if expired:
            log.info("worker.flow_control_keys_expired", count=len(expired))
        removed = await remove_dead_consumers(self.conn, keep=self.consumer.name)
        if removed:
            log.info("worker.dead_consumers_removed", consumers=removed)

    async def _refresh_signing_key(self) -> None:
        self._signing_key, _ = await current_keys(self.conn)

    async def _follow_rotations(self) -> None:
        """Refresh the signing key the moment `POST /v2/keys/rotate` announces a rotation."""
        async with RotationFeed(self.conn.redis) as rotations:
            while not self._stopping.is_set():
                try:
                    if await rotations.wait(1.0):
                        await self._refresh_signing_key()
                except Exception:
                    log.exception("worker.key_follow_failed")
                    await self._pause(1)

    # -- reading ----------------------------------------------------------------------------

    async def _read_loop(self, partition: PartitionKeys) -> None:
        """Fill this partition's share of the worker's slots: new entries, and every half
        visibility timeout, entries a dead worker left pending. One loop owns the partition's
        slots, so neither starves. An idle partition holds no slot while it waits for work:
        its blocking read asks for one entry, which then waits for a slot like any other."""
        reclaim_every = self.settings.visibility_timeout_ms / 2000
        # A random first round, so the partitions' reclaims (and the pool connections they
        # need at once) spread over the period instead of all coming in the same instant.
        next_reclaim = time.monotonic() + reclaim_every * random.uniform(0.5, 1.0)
        idle = True
        while not self._stopping.is_set():
            reclaiming = time.monotonic() >= next_reclaim
            if reclaiming:
                next_reclaim = time.monotonic() + reclaim_every
            try:
                if idle and not reclaiming:
                    # Woken in time for the next reclaim, which only a read's end can start.
                    until_reclaim = int((next_reclaim - time.monotonic()) * 1000)
                    block = max(READ_BLOCK_MS, min(self._idle_block_ms, until_reclaim))
                    entries = await self._wait_for_work(partition, block)
                else:
                    entries = await self._read_batch(partition, reclaiming)
                idle = not entries
                await self._start(partition, entries, reclaimed=reclaiming)
            except Exception:
                log.exception("worker.read_failed", partition=partition.partition)
                await self._pause(1)

    async def _wait_for_work(self, partition: PartitionKeys, block_ms: int) -> list[Entry]:
        """A blocking read of one entry holding no slot, then a slot for it."""
        entries = await self._readers[partition.partition].read(1, block_ms)
        if entries:
            # Heartbeats cover it while it waits, so no one reclaims it meanwhile.
            waiting = self._inflight[partition.partition]
            waiting.add(entries[0][0])
            try:
                await self._capacity.take(partition.partition, 1)
            finally:
                waiting.discard(entries[0][0])
        return entries

    async def _read_batch(self, partition: PartitionKeys, reclaiming: bool) -> list[Entry]:
        """As many entries as the partition may take slots for; each entry keeps one."""
        slots = await self._capacity.take(partition.partition, READ_BATCH, self._read_least)
        try:
            entries = await (
                self._reclaim(partition, slots)
                if reclaiming
                else self._readers[partition.partition].read(slots, READ_BLOCK_MS)
            )
        except Exception:
            self._capacity.give_back(partition.partition, slots)
            raise
        if self._stopping.is_set() and not entries:
            self._capacity.give_back(partition.partition, slots)
            return []
        self._capacity.give_back(partition.partition, slots - len(entries))
        return entries

    async def _start(self, partition: PartitionKeys, entries: list[Entry], reclaimed: bool) -> None:
        """Count the attempts and load the messages in one script call, then deliver each.
        Every entry holds a slot; those that turn out to be no attempt give theirs back."""
        try:
            started_all = await self.consumer.start(partition, entries, reclaimed)
        except Exception:
            self._capacity.give_back(partition.partition, len(entries))
            raise
        for started in started_all:
            if isinstance(started, Attempt):
                self._spawn(self._deliver(started))
                continue
            try:
                if isinstance(started, CancelledInGate):
                    await self.consumer.settle_cancelled(started)
                elif isinstance(started, DueForGate):
                    await self.consumer.enter_gate(started)
            except Exception:  # its entry stays pending: reclaimed and tried again later
                log.exception("worker.gate_step_failed", partition=partition.partition)
            finally:
                self._capacity.give_back(partition.partition)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- delivering -------------------------------------------------------------------------

    async def _deliver(self, attempt: Attempt) -> None:
        inflight = self._inflight[attempt.partition.partition]
        inflight.add(attempt.entry_id)
        # Log fields are passed per call rather than bound into contextvars for every
        # delivery: binding cost ~3% of worker CPU (docs/performance-log.md), even unlogged.
        task = asyncio.current_task()
        try:
            outcome = await self._attempt(attempt)
            # From here on a shutdown waits for this task instead of cancelling it (_drain):
            # a marker in a set, where a shield would cost a task per delivery.
            if task is not None:
                self._settling.add(task)
            settled = await settle(self.consumer, attempt, outcome)
            if workflow.is_involved(attempt.envelope):
                await workflow.settled(self.conn, attempt, settled, outcome.response)
            if self._log_settles:
                log.debug(
                    "delivery.settled",
                    message_id=attempt.envelope.id,
                    attempt=attempt.attempts,
                    outcome=type(outcome).__name__,
                    result=settled.result.value,
                )
        except Exception:
            log.exception(
                "delivery.failed_to_settle",
                message_id=attempt.envelope.id,
                attempt=attempt.attempts,
            )
        finally:
            self._settling.discard(task)
            inflight.discard(attempt.entry_id)
            self._capacity.give_back(attempt.partition.partition)

    async def _attempt(self, attempt: Attempt) -> Outcome:
        envelope = attempt.envelope
        if attempt.attempts > envelope.retries + 1:
            # Earlier attempts died with their worker; do not try forever.
            return DeadLetter(Response(error="attempts exhausted by worker crashes"), "crashes")
        if attempt.reclaims > self.settings.max_reclaims:
            # Its workers keep dying mid-delivery: a poison message, set aside.
            return DeadLetter(
                Response(error="poison: its deliveries keep crashing workers"), "poison"
            )
        started = time.time()
        if attempt.attempts == 1:
            # A retry's own due time is not kept; measuring it from the first due time would
            # count its backoff as queueing. So the wait is of first attempts only.
            DELIVERY_WAIT.observe(max(0.0, started - envelope.not_before / 1000))
        response = await self._send(attempt)
        DELIVERY_DURATION.observe(time.time() - started)
        outcome = _outcome_label(response)
        count_delivery(outcome, response.status)
        if envelope.workflow_call_type == "step":  # a step of a run, to its workflow app
            count_step_delivery(outcome)
        # A retry's due time counts from Redis TIME, like every due time: a step of this
        # host's clock must not make it early or strand it late (tests/faults/test_clock.py).
        # A success needs no clock: no round trip, and no coroutine for one.
        now_ms = 0 if outcome == "success" else await self.conn.now_ms()
        return self._decide(attempt, response, now_ms)

    async def _send(self, attempt: Attempt) -> Response:
        """send() answers with a Response for whatever the destination does; anything it
        raises besides (a bug, a value the HTTP client refuses) is a failed attempt too, so
        every attempt ends in an outcome instead of waiting for the visibility timeout."""
        assert self._session is not None
        try:
            envelope, body = attempt.envelope, attempt.body
            if workflow.is_involved(envelope):
                envelope, prepared = await workflow.prepare(self.conn, attempt)
                if prepared is None:  # nothing left to deliver (workers/workflow.py)
                    return Response(status=200)
                body = prepared
            return await send(self._session, envelope, body, attempt.attempts, self._signing_key)
        except Exception as exc:
            log.exception("delivery.send_failed", message_id=attempt.envelope.id)
            return Response(error=f"internal error: {exc!r}"[:500])

    def _decide(self, attempt: Attempt, response: Response, now_ms: int) -> Outcome:
        """What the attempt leads to by the message's retry rules, or by the default ones
        when its own cannot be applied."""
        scale = self.settings.retry_time_scale
        try:
            return decide(attempt.envelope, attempt.attempts, response, now_ms, scale)
        except Exception:  # e.g. a stored retry-delay expression that no longer evaluates
            log.exception("delivery.decide_failed", message_id=attempt.envelope.id)
            return fallback(attempt.envelope, attempt.attempts, response, now_ms, scale)

    # -- background loops -------------------------------------------------------------------

    async def _promote_loop(self) -> None:
        """Move due delayed messages to the ready streams, then sleep until the next one is
        due, at most HOOKSTREAM_PROMOTE_INTERVAL_MS; an announced new head due sooner wakes
        it earlier. A sweep with nothing known to be due (the interval ran out) is only a
        safety net for lost announcements, so one worker per interval runs it (a lease), not
        every worker: an idle system's promote cost does not grow with the worker count."""
        while not self._stopping.is_set():
            try:
                async with DelayedHeads(self.conn.redis) as heads:
                    known = True
                    while not self._stopping.is_set():
                        seconds = await self._promote_due(known)
                        known = await self._sleep_until_due(heads, seconds)
            except Exception:
                log.exception("worker.promote_failed")
                await self._pause(1)

    async def _promote_due(self, known: bool) -> float:
        """Promote every partition (unless this is a safety sweep another worker runs);
        seconds until the next sweep is needed."""
        interval_ms = self.settings.promote_interval_ms
        if not known and not await self.consumer.lease_sweep(int(interval_ms * SWEEP_LEASE)):
            return interval_ms / 1000
        next_ms = await self.consumer.promote_all(self.conn.partitions, READ_BATCH)
        return interval_ms / 1000 if next_ms < 0 else min(interval_ms, next_ms) / 1000

    async def _sleep_until_due(self, heads: DelayedHeads, seconds: float) -> bool:
        """Sleep `seconds` or until an announced head is due; True when something is known
        to be due at the wake-up (an announcement, or a due time within the interval)."""
        known = seconds < self.settings.promote_interval_ms / 1000
        wake_at = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = wake_at - time.monotonic()
            if left <= 0:
                break
            # At most a second per wait, so a stop is seen within one, whatever the interval.
            announced_ms = await heads.wait(min(left, 1.0))
            if announced_ms is not None:
                known = True
                wake_at = min(wake_at, time.monotonic() + announced_ms / 1000)
        return known

    async def _reclaim(self, partition: PartitionKeys, count: int) -> list[Entry]:
        """Take over entries idle past the visibility timeout (their worker died)."""
        visibility = self.settings.visibility_timeout_ms
        entries = await self.consumer.reclaim(partition, count, visibility)
        if entries:
            log.info("worker.reclaimed", partition=partition.partition, count=len(entries))
        return entries

    async def _heartbeat_loop(self) -> None:
        """Reset the idle time of our in-flight entries well before the visibility timeout."""
        while not await self._pause(self.settings.visibility_timeout_ms / 3000):
            for partition in self.conn.partitions:
                entries = list(self._inflight[partition.partition])
                if not entries:
                    continue
                try:
                    await self.consumer.extend(partition, entries)
                except Exception:
                    log.exception("worker.heartbeat_failed")


def _outcome_label(response: Response) -> str:
    """The deliveries metric's outcome: success, or the failure (rate limits are HTTP errors
    there; the retries metric tells them apart)."""
    failure = failure_of(response)
    if failure is None:
        return "success"
    return Failure.HTTP_ERROR if failure is Failure.RATE_LIMITED else failure.value
