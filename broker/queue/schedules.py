"""Schedules in Redis: definitions, the due set, tick claims and the scheduler lease.

Everything here lives in the `{hs:sched}` slot (keys.py): one hash per schedule, a sorted set
of next fire times (`due`, paused schedules are absent), a creation-ordered index for listing,
the claims of ticks not yet known to be published, and the lease. A tick becomes messages in
two steps, because a cluster cannot run one script over `{hs:sched}` and a partition:

1. `claim`: one script moves the due score from the tick to the next fire time, only if it
   still equals the tick and Redis TIME has reached it, and records the claim (the drafts of
   the tick's messages, with ids derived from schedule id + tick). One replica wins per tick.
2. `publish`: the deduplicating commit (publishing.commit) in the messages' partition, keyed
   by a tick marker: one script checks the marker, creates the messages and sets it.
   The claim is removed only after that script returned. A replica that crashed in between
   leaves the claim, the next one re-runs step 2 and the marker makes the replay a no-op. So
   a claimed tick is published once, and never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from broker.queue import keys, scripts
from broker.queue.connection import Connection
from broker.queue.keys import keys_for
from broker.queue.model import PublishOptions, State
from broker.queue.producer import Draft
from broker.queue.publishing import Dedup, Plan, commit
from broker.queue.scripts import Arg

# How long a tick marker outlives its publish. A claim left by a crashed replica is replayed
# by the next active one within seconds; the marker only has to outlast that (and any replica
# that stalled while holding the claim). Beyond it a replay would publish again, with the same
# message id.
TICK_MARKER_TTL_MS = 10 * 60_000


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a schedule publishes on every tick; replaced as a whole by an update.

    Stored msgpack-encoded (hash field `d`). New fields get defaults, so a record written by
    an older version decodes unchanged; `version` names the layout for any future migration.
    """

    version: int = 1
    id: str
    cron: str
    destination: str
    options: PublishOptions
    queue_name: str | None = None
    caller_ip: str = ""
    # Whether Upstash-Timeout was given (the Schedule object shows `timeout` only then). True
    # for records written before this field, which always showed it.
    timeout_given: bool = True


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed tick: the exact messages to publish, kept until they are published."""

    schedule_id: str
    tick_ms: int
    drafts: tuple[Draft, ...]
    fan_out: bool = False


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule as Redis holds it right now."""

    spec: ScheduleSpec
    body: bytes
    created_at: int
    paused: bool
    next_ms: int | None
    last_ms: int | None
    message_ids: tuple[str, ...]
    error: str | None


_spec_decoder = msgspec.msgpack.Decoder(ScheduleSpec)
_claim_decoder = msgspec.msgpack.Decoder(Claim)
_encoder = msgspec.msgpack.Encoder()


class Schedules:
    """Schedule storage on one connection, for the API and the scheduler."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.redis = conn.redis

    async def now_ms(self) -> int:
        """Redis TIME in ms: the one clock that decides fire times."""
        return await self.conn.now_ms()

    async def _call(
        self, script: scripts.Script, keys_: dict[str, str], args: dict[str, Arg]
    ) -> int:
        return int(await self.conn.scripts.call(script, None, keys_, args))

    async def save(self, spec: ScheduleSpec, body: bytes, next_ms: int) -> bool:
        """Create or update in place; True when the schedule is new."""
        keys_ = _definition_keys(spec.id)
        args: dict[str, Arg] = {
            "id": spec.id,
            "definition": _encoder.encode(spec),
            "body": body,
            "next_ms": next_ms,
        }
        return bool(await self._call(scripts.SCHEDULE_SAVE, keys_, args))

    async def load(self, schedule_id: str) -> StoredSchedule | None:
        """The schedule, or None when unknown."""
        found = await self.load_many([schedule_id])
        return next(iter(found), None)

    async def all(self) -> list[StoredSchedule]:
        """Every schedule, oldest first."""
        members: list[Any] = await self.redis.zrange(keys.SCHEDULES_INDEX, 0, -1)
        ids = [member.decode() for member in members]
        return await self.load_many(ids)

    async def load_many(self, schedule_ids: Sequence[str]) -> list[StoredSchedule]:
        """The schedules among `schedule_ids` that exist, in that order."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for schedule_id in schedule_ids:
                pipe.hgetall(keys.schedule(schedule_id))
                pipe.zscore(keys.SCHEDULES_DUE, schedule_id)
            replies = await pipe.execute()
        pairs = zip(replies[::2], replies[1::2], strict=True)
        return [_stored(fields, score) for fields, score in pairs if fields.get(b"d")]

    async def delete(self, schedule_id: str) -> bool:
        """Remove the schedule; False when it did not exist."""
        keys_ = _definition_keys(schedule_id)
        return bool(await self._call(scripts.SCHEDULE_DELETE, keys_, {"id": schedule_id}))

    async def set_paused(self, schedule_id: str, paused: bool, next_ms: int = 0) -> bool:
        """Pause, or resume with the next fire time `next_ms`; False for an unknown id."""
        keys_ = {"due": keys.SCHEDULES_DUE, "schedule": keys.schedule(schedule_id)}
        args: dict[str, Arg] = {
            "id": schedule_id,
            "action": "pause" if paused else "resume",
            "next_ms": next_ms,
        }
        return bool(await self._call(scripts.SCHEDULE_PAUSE, keys_, args))

    async def due(self, now_ms: int, limit: int) -> list[tuple[str, int]]:
        """(schedule id, tick) of the schedules due at `now_ms`, earliest first."""
        found: list[Any] = await self.redis.zrangebyscore(
            keys.SCHEDULES_DUE, "-inf", now_ms, start=0, num=limit, withscores=True
        )
        return [(member.decode(), int(score)) for member, score in found]

    async def next_due_ms(self) -> int | None:
        """The earliest next fire time of any running schedule."""
        head: list[Any] = await self.redis.zrange(keys.SCHEDULES_DUE, 0, 0, withscores=True)
        return int(head[0][1]) if head else None

    async def claim(
        self, schedule_id: str, tick_ms: int, next_ms: int, outcome: Claim | str
    ) -> int:
        """Claim a due tick with its drafts, or record it as failed with an error text.

        Returns the Redis time of the claim, or 0 when the tick is not (or no longer) due: an
        other replica claimed it, or the schedule was paused, updated or deleted meanwhile.
        """
        if isinstance(outcome, Claim):
            ids = ",".join(draft.envelope.id for draft in outcome.drafts)
            record, error = _encoder.encode(outcome), ""
        else:
            ids, record, error = "", b"", outcome
        keys_ = {
            "due": keys.SCHEDULES_DUE,
            "schedule": keys.schedule(schedule_id),
            "claims": keys.SCHEDULE_CLAIMS,
        }
        args: dict[str, Arg] = {
            "id": schedule_id,
            "tick": tick_ms,
            "next_ms": next_ms,
            "message_ids": ids,
            "record": record,
            "error": error,
        }
        return await self._call(scripts.SCHEDULE_CLAIM, keys_, args)

    async def pending_claims(self) -> list[Claim]:
        """Claims whose publish has not been confirmed (a replica died or Redis failed)."""
        records: list[Any] = await self.redis.hvals(keys.SCHEDULE_CLAIMS)
        return [_claim_decoder.decode(record) for record in records]

    async def publish(self, claim: Claim) -> int:
        """Publish a claim's messages at most once, then drop the claim; the number created.

        The tick marker is the commit's deduplication key: marker and messages are written by
        one script, so a replay finds the marker and writes nothing.
        """
        first = claim.drafts[0]
        dedup = Dedup(first.partition.tick(first.envelope.id), TICK_MARKER_TTL_MS)
        published = await commit(
            self.conn, Plan(claim.drafts, dedup, claim.fan_out), source="schedule"
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.SCHEDULE_CLAIMS, first.envelope.id)
            pipe.hdel(keys.SCHEDULE_CLAIM_FAILURES, first.envelope.id)
            await pipe.execute()
        return 0 if published.deduplicated else len(claim.drafts)

    async def claim_failed(self, claim: Claim, error: str, limit: int) -> bool:
        """Count a replay of `claim` that failed for a reason a retry will not cure; after
        `limit` of them, drop the claim and record `error` on its schedule. True when dropped.

        Without the cap, a claim that can never be published would be replayed first in every
        round, forever, and every round would end there.
        """
        first = claim.drafts[0].envelope.id
        failures = await self.redis.hincrby(keys.SCHEDULE_CLAIM_FAILURES, first, 1)
        if failures < limit:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.SCHEDULE_CLAIMS, first)
            pipe.hdel(keys.SCHEDULE_CLAIM_FAILURES, first)
            pipe.hset(keys.schedule(claim.schedule_id), "error", error)
            await pipe.execute()
        return True

    async def message_states(self, message_ids: Sequence[str]) -> dict[str, str]:
        """`lastScheduleStates`: IN_PROGRESS while claimed or undelivered, FAIL when
        dead-lettered, SUCCESS once delivered (kept for a while as DELIVERED, then gone)."""
        if not message_ids:
            return {}
        if await self.redis.hexists(keys.SCHEDULE_CLAIMS, message_ids[0]):
            return dict.fromkeys(message_ids, "IN_PROGRESS")
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hget(keys_for(message_id).message(message_id), "state")
            states = await pipe.execute()
        return {m: _tick_state(s) for m, s in zip(message_ids, states, strict=True)}

    async def hold_lease(self, token: str, ttl_ms: int) -> bool:
        """Take or extend the scheduler lease; True while this token holds it."""
        lease = {"lease": keys.SCHEDULER_LEASE}
        return bool(
            await self._call(scripts.SCHEDULE_LEASE, lease, {"token": token, "ttl_ms": ttl_ms})
        )

    async def release_lease(self, token: str) -> None:
        """Give the lease up at once (clean shutdown), if this token holds it."""
        lease = {"lease": keys.SCHEDULER_LEASE}
        await self._call(scripts.SCHEDULE_LEASE, lease, {"token": token, "ttl_ms": 0})


def _definition_keys(schedule_id: str) -> dict[str, str]:
    return {
        "due": keys.SCHEDULES_DUE,
        "index": keys.SCHEDULES_INDEX,
        "schedule": keys.schedule(schedule_id),
    }


def _tick_state(state: bytes | None) -> str:
    if state is None or state == State.DELIVERED.encode():
        return "SUCCESS"
    return "FAIL" if state == State.FAILED.encode() else "IN_PROGRESS"


def _stored(fields: dict[bytes, bytes], score: float | None) -> StoredSchedule:
    def number(name: bytes) -> int | None:
        return int(fields[name]) if name in fields else None

    messages = fields.get(b"msgs", b"").decode()
    return StoredSchedule(
        spec=_spec_decoder.decode(fields[b"d"]),
        body=fields.get(b"b", b""),
        created_at=number(b"created") or 0,
        paused=fields.get(b"paused") == b"1",
        next_ms=None if score is None else int(score),
        last_ms=number(b"last"),
        message_ids=tuple(m for m in messages.split(",") if m),
        error=fields[b"error"].decode() if b"error" in fields else None,
    )
