"""Every Redis key name hookstream uses, and nothing else builds key names.

All keys of one partition share one hash tag, so each Lua script touches one hash slot and the
same code runs on a single Redis and on Redis Cluster. Partition p of P takes the tag
`{hs:<p>.<s>}`, where the salt s is the smallest number whose tag hashes into the middle half of
slot range [p*16384/P, (p+1)*16384/P) (`partition_keys`). On a cluster whose masters hold
contiguous, even slot ranges (what `--cluster create` and managed services set up), P = 48 puts
exactly 48/N partitions on each of N = 1, 2, 3, 4, 6, 8, 12, 16, 24 or 48 masters; the middle
half keeps that true whichever way a tool rounds the range ends. The tags are a pure function
of (p, P), the same in every process; P is recorded in Redis (broker/queue/layout.py).

A message id carries its partition's tag (`msg_<p>.<s>_<ulid>`), so any role derives every key
of a message from the id alone. Ids of the first layout (`msg_<p>_<ulid>`, tag `{hs:<p>}`)
still parse, to their old keys.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

GROUP = "workers"
SIGNING_KEYS = "{hs:global}:signing-keys"
SIGNING_KEYS_CHANNEL = "hookstream:signing-keys-rotated"  # pub/sub: workers refresh at once
# pub/sub: a new head of a delayed set, announced by the scripts (partition.lua WAKE_CHANNEL)
DELAYED_HEAD_CHANNEL = "hookstream:delayed-head"
PROMOTE_SWEEP = "{hs:global}:promote-sweep"  # string with a TTL: who runs the safety sweep
LAYOUT = "{hs:global}:layout"  # hash: partitions, tags (broker/queue/layout.py)

# Schedules share one tag of their own, outside the message partitions: the API lists them and
# the scheduler claims ticks across all of them in one slot. A tick's message is published
# afterwards in its own partition (docs/scheduler.md explains the two steps).
SCHEDULES_DUE = "{hs:sched}:due"  # sorted set: schedule id by next fire time (ms); not paused
SCHEDULES_INDEX = "{hs:sched}:index"  # sorted set: every schedule id by creation time (ms)
SCHEDULE_CLAIMS = "{hs:sched}:claims"  # hash: message id -> claimed tick not yet settled
SCHEDULE_CLAIM_FAILURES = "{hs:sched}:claim-failures"  # hash: message id -> failed replays
SCHEDULER_LEASE = "{hs:sched}:lease"  # string: token of the active scheduler, with a TTL

# Ordered queues: each lives in the partition its name hashes to (queue_partition), with its
# messages; the index of names has a tag of its own.
QUEUES_INDEX = "{hs:queues}:index"
FLOW_CONTROL_INDEX = "{hs:flow}:index"  # set of flow-control keys


def queue_partition(name: str, partitions: int) -> PartitionKeys:
    """The partition of an ordered queue (or flow-control key) and all of its messages."""
    return partition_keys(zlib.crc32(name.encode()) % partitions, partitions)


def rate_limit(token: str) -> str:
    """Counter of one token's requests in its current rate-limit window (a string with a TTL).

    Named by a digest of the token, never the token itself (key names show in SCAN, MONITOR
    and slow logs); the same on every ingress replica, so all of them share the count. Each
    token has a hash tag of its own, so on a cluster the counters spread over the shards.
    """
    digest = hashlib.sha256(b"hookstream rate limit\0" + token.encode()).hexdigest()[:32]
    return f"{{hs:rate:{digest}}}:count"


# URL groups ("topics") are management data read on every fan-out publish; one tag of their own.
TOPICS_INDEX = "{hs:topics}:index"  # set of group names


def topic(name: str) -> str:
    """JSON string of one URL group: name, createdAt, updatedAt, endpoints."""
    return f"{{hs:topics}}:g:{name}"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGIT_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]  # by 10-bit value
_PAIR_SHIFTS = range(120, -1, -10)


@lru_cache(maxsize=4096)
def partition_keys(partition: int, partitions: int) -> PartitionKeys:
    """Partition `partition` of `partitions`, with its slot-aligned tag (module docstring)."""
    if not 0 <= partition < partitions <= REDIS_CLUSTER_HASH_SLOTS:
        raise ValueError(f"no partition {partition} of {partitions}")
    low, high = _slot_window(partition, partitions)
    salt = 0
    while not low <= key_slot(f"hs:{partition}.{salt}".encode()) < high:
        salt += 1
    return PartitionKeys(partition, salt)


def _slot_window(partition: int, partitions: int) -> tuple[int, int]:
    """The middle half of the partition's slot range (at least one slot)."""
    start = partition * REDIS_CLUSTER_HASH_SLOTS // partitions
    end = (partition + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions
    quarter = (end - start) // 4
    return start + quarter, max(end - quarter, start + quarter + 1)


@dataclass(frozen=True, slots=True)
class PartitionKeys:
    """The keys of one partition: number `partition`, tag salt `salt` (None: the first
    layout's `{hs:<p>}`). Build them with `partition_keys` or `keys_for`.

    The fixed names are built once: every publish, start and settle passes several of them,
    and formatting them per call was ~1% of a worker's CPU."""

    partition: int
    salt: int | None = None
    id_part: str = field(init=False, compare=False, repr=False)
    """What a message id of this partition carries between `msg_` and the ULID."""
    tag: str = field(init=False, compare=False, repr=False)
    ready: str = field(init=False, compare=False, repr=False)
    """Stream of message ids due now; consumer group GROUP."""
    delayed: str = field(init=False, compare=False, repr=False)
    """Sorted set: member = message id, score = due time in ms (delays and backoff)."""
    dlq: str = field(init=False, compare=False, repr=False)
    """Stream of dead-lettered message ids; its entry id is the public dlqId."""
    events: str = field(init=False, compare=False, repr=False)
    """Capped stream of state changes of this partition's messages."""
    no_queue: tuple[str, str] = field(init=False, compare=False, repr=False)
    """queue_keys(None): the gate keys every message without a gate passes."""
    base_keys: tuple[str, str, str, str] = field(init=False, compare=False, repr=False)
    """ready, delayed, events, dlq: the keys every partition script takes first
    (scripts.PARTITION_KEYS)."""

    def __post_init__(self) -> None:
        id_part = str(self.partition) if self.salt is None else f"{self.partition}.{self.salt}"
        tag = f"{{hs:{id_part}}}"
        names = {"id_part": id_part, "tag": tag, "ready": f"{tag}:ready"}
        names |= {"delayed": f"{tag}:delayed", "dlq": f"{tag}:dlq", "events": f"{tag}:events"}
        for name, value in names.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "no_queue", (f"{tag}:q:", f"{tag}:q::wait"))
        base_keys = (names["ready"], names["delayed"], names["events"], names["dlq"])
        object.__setattr__(self, "base_keys", base_keys)

    def message(self, message_id: str) -> str:
        """Hash holding one message: envelope `m` plus mutable fields."""
        return f"{self.tag}:msg:{message_id}"

    def flow_keys(self, key: str) -> list[str]:
        """[hash, wait list] of a flow-control key living in this partition (a gate like a
        queue's, with a rate limit and without the FIFO promise to callers)."""
        return [f"{self.tag}:fc:{key}", f"{self.tag}:fc:{key}:wait"]

    def gate_keys(self, queue_name: str | None, flow_control_key: str | None) -> list[str]:
        """The gate a message passes: its ordered queue, its flow-control key, or neither."""
        if flow_control_key and not queue_name:
            return self.flow_keys(flow_control_key)
        return self.queue_keys(queue_name)

    def gate(self, queue_name: str | None, flow_control_key: str | None) -> dict[str, str]:
        """`gate_keys` by the names the scripts give them: {"gate": hash, "wait": list}."""
        gate, wait = self.gate_keys(queue_name, flow_control_key)
        return {"gate": gate, "wait": wait}

    def queue_keys(self, name: str | None) -> list[str]:
        """[hash, wait list] of an ordered queue living in this partition.

        For a message without a queue these are the keys of the empty name, which no queue
        can have: scripts take queue keys unconditionally and find them absent.
        """
        if not name:
            return list(self.no_queue)
        return [f"{self.tag}:q:{name}", f"{self.tag}:q:{name}:wait"]

    def dedup(self, digest: str) -> str:
        """The published answer for a deduplication id, kept for the dedup window."""
        return f"{self.tag}:dedup:{digest}"

    @property
    def message_pattern(self) -> str:
        """SCAN pattern of every message hash of this partition."""
        return f"{self.tag}:msg:*"

    def tick(self, message_id: str) -> str:
        """Marker that a schedule tick's message was published (the idempotency key)."""
        return f"{self.tag}:tick:{message_id}"

    @property
    def workflow_runs(self) -> str:
        """Sorted set: the run ids of this partition's workflow runs by creation time (ms)."""
        return f"{self.tag}:wf:runs"

    def workflow_run(self, run_id: str) -> dict[str, str]:
        """One workflow run, by the names the scripts give its keys: `run` (hash: state,
        config, counters), `steps` (list: the raw steps, JSON each), `members` (set: the ids
        of its messages, for cancel)."""
        base = f"{self.tag}:wf:{run_id}"
        return {"run": base, "steps": f"{base}:steps", "members": f"{base}:members"}

    def workflow_waits(self, run_id: str) -> str:
        """Hash: event id -> the run's waiter for it (msgpack workflow_waits.Waiter)."""
        return f"{self.tag}:wf:{run_id}:waits"

    def workflow_held(self, run_id: str) -> str:
        """Hash: event id -> the data of an event notified to this run before it waited
        (lookback); its next wait for the event takes it."""
        return f"{self.tag}:wf:{run_id}:held"

    def workflow_hooks(self, run_id: str) -> str:
        """Set: the event ids of the webhooks this run created (`context.createWebhook`); a
        call to `/v2/workflows/hooks/...` must name one of them."""
        return f"{self.tag}:wf:{run_id}:hooks"

    def workflow_home(self, run_id: str) -> str:
        """String, in the run id's own partition: the partition a run with a flow-control key
        lives in instead (its key's, where its gate is)."""
        return f"{self.tag}:wf:{run_id}:home"


def workflow_event(event_id: str) -> str:
    """Set: the ids of the workflow runs waiting for an event (notify finds them here). Named
    by a digest of the event id, which the client chooses; a tag of its own per event."""
    digest = hashlib.sha256(b"hookstream workflow event\0" + event_id.encode()).hexdigest()[:32]
    return f"{{hs:wfev:{digest}}}:runs"


def run_partition(run_id: str, partitions: int) -> PartitionKeys:
    """The partition of a workflow run and all of its messages (the SDK picks the run id)."""
    return partition_keys(zlib.crc32(b"wf\0" + run_id.encode()) % partitions, partitions)


def ulid(ms: int | None = None, entropy: bytes | None = None) -> str:
    """A 26-character, time-ordered id (ULID layout, Crockford base32): random unless `ms`
    and 10 bytes of `entropy` are given."""
    ms = int(time.time() * 1000) if ms is None else ms
    value = (ms << 80) | int.from_bytes(entropy or os.urandom(10), "big")
    # 26 base-32 digits, two at a time (13 table lookups instead of 26 divisions)
    return "".join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_message_id(partition: PartitionKeys) -> str:
    """A fresh message id in `partition`."""
    return f"msg_{partition.id_part}_{ulid()}"


def random_partition(partitions: int) -> PartitionKeys:
    """Any of the partitions, uniformly."""
    return partition_keys(random.randrange(partitions), partitions)


def schedule(schedule_id: str) -> str:
    """Hash of one schedule: definition `d`, body `b` and its run state."""
    return f"{{hs:sched}}:s:{schedule_id}"


def tick_message_id(
    partition: PartitionKeys, schedule_id: str, tick_ms: int, index: int = 0
) -> str:
    """The id of the `index`-th message of a schedule tick (one per URL-group endpoint), the
    same on every replica and retry.

    Its ULID time part is the tick, so a replayed publish of one tick names the same messages
    and `Upstash-Message-Id` stays stable.
    """
    entropy = hashlib.sha256(f"{schedule_id}\0{tick_ms}\0{index}".encode()).digest()[:10]
    return f"msg_{partition.id_part}_{ulid(tick_ms, entropy)}"


def tick_of(message_id: str) -> int:
    """The tick a schedule message was made for: the ULID time part of its id."""
    value = 0
    for char in message_id.split("_", 2)[2][:10]:
        value = value * 32 + _CROCKFORD.index(char)
    return value


def partition_of(message_id: str) -> int:
    """The partition a message id belongs to; ValueError for ids we never issued."""
    return keys_for(message_id).partition


def keys_for(message_id: str) -> PartitionKeys:
    """The partition keys of a message; ValueError for ids we never issued."""
    prefix, part, rest = [*message_id.split("_", 2), "", ""][:3]
    partition, dot, salt = part.partition(".")
    if prefix != "msg" or not partition.isdigit() or not rest or (dot and not salt.isdigit()):
        raise ValueError(f"not a message id: {message_id!r}")
    # Bounded like the ids we issue, so a hostile id never names a huge number.
    if len(partition) > 5 or len(salt) > 6:
        raise ValueError(f"not a message id: {message_id!r}")
    return _interned(int(partition), int(salt) if dot else None)


@lru_cache(maxsize=4096)  # bounded: a hostile id may name any partition and salt
def _interned(partition: int, salt: int | None) -> PartitionKeys:
    """One PartitionKeys per partition, its names built once (a publish asks for its
    draft's several times)."""
    return PartitionKeys(partition, salt)


def dlq_id(stream_id: str, partition: int) -> str:
    """The public dlqId: the DLQ stream entry id plus its partition (`1725323658779-0-2`).

    Stream ids alone collide across partitions, so the partition is part of the id.
    """
    return f"{stream_id}-{partition}"


STREAM_ID_MAX = 2**64 - 1
"""Each half of a stream id is an unsigned 64-bit number: Redis answers an error, not an
empty range, for one past it."""
_DLQ_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})-([0-9]{1,5})")


def parse_dlq_id(public_id: str) -> tuple[int, str]:
    """(partition, stream id) of a dlqId; ValueError for ids we never issued (ASCII digits
    only, each half of the stream id within 64 bits)."""
    match = _DLQ_ID.fullmatch(public_id)
    if match is None or max(int(match[1]), int(match[2])) > STREAM_ID_MAX:
        raise ValueError(f"not a dlq id: {public_id!r}")
    return int(match[3]), f"{match[1]}-{match[2]}"
