"""Every Lua script, declared once: the names of its KEYS and ARGV, and the prelude it needs.

Each `.lua` file in scripts/ opens with `-- KEYS:` and `-- ARGV:` lines naming what it takes,
word for word the declaration below (tests/unit/test_scripts.py holds them together). The
loader turns those names into the `KEY` and `ARG` tables the script reads, so no script and no
caller counts positions. A trailing `name...` is a variadic tail whose first index the script
finds in `KEY_TAIL` / `ARG_TAIL`.

Scripts of a message partition get the partition prelude (partition.lua) and the partition's
base keys and arguments before their own: `ready delayed events dlq` and `events_maxlen
group`. Scripts of the other slots (schedules, signing keys) get only the key-free core.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import NoScriptError, RedisError, ResponseError

from broker.queue.keys import GROUP, PartitionKeys

if TYPE_CHECKING:
    from broker.queue.connection import Client

Arg = bytes | str | int
PARTITION_KEYS = ("ready", "delayed", "events", "dlq")
PARTITION_ARGS = ("events_maxlen", "group")


def _names(declared: str) -> tuple[tuple[str, ...], str | None]:
    """('a b rest...') → (('a', 'b'), 'rest')."""
    words = declared.split()
    if words and words[-1].endswith("..."):
        return tuple(words[:-1]), words[-1].removesuffix("...")
    return tuple(words), None


@dataclass(frozen=True)
class Script:
    """One script: its file name, its named KEYS and ARGV, and whether it runs in a partition."""

    name: str
    keys: str = ""
    args: str = ""
    partition: bool = True
    # Another script whose body runs after this one's: this one is a guard in front of it
    # (it returns early, or falls through to the other with the same KEY and ARG names).
    continues: str = ""
    key_names: tuple[str, ...] = field(init=False)
    arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        base_keys, base_args = (PARTITION_KEYS, PARTITION_ARGS) if self.partition else ((), ())
        object.__setattr__(self, "key_names", base_keys + _names(self.keys)[0])
        object.__setattr__(self, "arg_names", base_args + _names(self.args)[0])

    def source(self) -> str:
        """The Lua sent to Redis: name bindings, core, prelude, body."""
        folder = resources.files("broker.queue") / "scripts"
        parts = [self._bindings(), (folder / "core.lua").read_text()]
        if self.partition:
            parts.append((folder / "partition.lua").read_text())
        parts.append((folder / f"{self.name}.lua").read_text())
        if self.continues:
            parts.append((folder / f"{self.continues}.lua").read_text())
        return "\n".join(parts)

    def _bindings(self) -> str:
        keys = ", ".join(f"{n} = KEYS[{i}]" for i, n in enumerate(self.key_names, 1))
        args = ", ".join(f"{n} = ARGV[{i}]" for i, n in enumerate(self.arg_names, 1))
        tails = f"{len(self.key_names) + 1}, {len(self.arg_names) + 1}"
        return f"local KEY = {{{keys}}}\nlocal ARG = {{{args}}}\nlocal KEY_TAIL, ARG_TAIL = {tails}"

    def bind(
        self,
        keys: Mapping[str, str],
        args: Mapping[str, Arg],
        tail_keys: Sequence[str] = (),
        tail_args: Sequence[Arg] = (),
    ) -> tuple[list[str], list[Arg]]:
        """Named keys and args → KEYS and ARGV, in declaration order; a wrong name is a bug."""
        own_keys = self.key_names[len(PARTITION_KEYS) if self.partition else 0 :]
        own_args = self.arg_names[len(PARTITION_ARGS) if self.partition else 0 :]
        if tuple(keys) != own_keys or tuple(args) != own_args:
            raise TypeError(f"{self.name}: expected {own_keys} / {own_args}")
        return [*keys.values(), *tail_keys], [*args.values(), *tail_args]


_GATE_ARGS = "gate_kind parallelism rate period_ms"
PUBLISH = Script("publish", "gate wait messages...", f"{_GATE_ARGS} messages...")
PUBLISH_ONCE = Script(
    "publish_once", "gate wait dedup messages...", f"{_GATE_ARGS} window_ms answer messages..."
)
PUBLISH_BATCH = Script("publish_batch", "requests...", "requests...")
PROMOTE = Script("promote", "", "limit")
START = Script("start", "messages...", "reclaimed entries...")
EXTEND = Script("extend", "", "consumer entries...")
_SETTLE_KEYS = "gate wait message messages..."
SETTLE_DELIVERED = Script(
    "settle_delivered", _SETTLE_KEYS, "consumer entry_id message_id extra retention_ms messages..."
)
SETTLE_RETRY = Script(
    "settle_retry",
    _SETTLE_KEYS,
    "consumer entry_id message_id due last_response extra messages...",
)
SETTLE_FAILED = Script(
    "settle_failed",
    "gate wait message run steps members messages...",
    "consumer entry_id message_id last_response extra retention_ms dlq_suffix own_callbacks "
    "fails_run failure_callback run_retention_ms messages...",
)
SETTLE_CANCELLED = Script("settle_cancelled", "gate wait message", "consumer entry_id message_id")
GATE_ENTER = Script("gate_enter", "gate wait message", "entry_id message_id")
CANCEL = Script("cancel", "gate wait message", "message_id")
DLQ_RETRY = Script("dlq_retry", "gate wait old_message messages...", "stream_id messages...")
GATE_SET = Script(
    "gate_set", "gate wait", "parallelism paused create_only rate period_ms from_message"
)
GATE_DELETE = Script("gate_delete", "gate wait messages...", "messages...")
FLOW_CONTROL_EXPIRE = Script("flow_control_expire", "gate wait", "idle_ms")
CONSUMERS_PRUNE = Script("consumers_prune", "", "idle_ms keep")
SCHEDULE_SAVE = Script(
    "schedule_save", "due index schedule", "id definition body next_ms", partition=False
)
SCHEDULE_CLAIM = Script(
    "schedule_claim",
    "due schedule claims",
    "id tick next_ms message_ids record error",
    partition=False,
)
SCHEDULE_DELETE = Script("schedule_delete", "due index schedule", "id", partition=False)
SCHEDULE_PAUSE = Script("schedule_pause", "due schedule", "id action next_ms", partition=False)
SCHEDULE_LEASE = Script("schedule_lease", "lease", "token ttl_ms", partition=False)
SIGNING_ROTATE = Script("signing_rotate", "signing_keys", "fresh", partition=False)
WORKFLOW_TRIGGER = Script(
    "workflow_trigger",
    "gate wait run steps members runs messages...",
    "gated run_id config created_ms step idle_ms messages...",
)
WORKFLOW_APPEND = Script(
    "workflow_append",
    "gate wait run steps members messages...",
    "gated step max_steps max_bytes idle_ms once messages...",
)
WORKFLOW_RENDER = Script("workflow_render", "run steps message waits", "max_bytes")
WORKFLOW_WAIT = Script(
    "workflow_wait",
    "run members waits held messages...",
    "event_id waiter timeout_step idle_ms messages...",
)
WORKFLOW_NOTIFY = Script(
    "workflow_notify",
    "run steps members pending messages...",
    "event_id expected step messages...",
)
WORKFLOW_HOLD = Script("workflow_hold", "run waits held", "event_id data max_held idle_ms")
WORKFLOW_END = Script(
    "workflow_end", "run steps members messages...", "state result error retention_ms messages..."
)

WORKFLOW_DLQ_RESUME = Script(
    "workflow_dlq_resume",
    "gate wait run steps members old_message messages...",
    "stream_id index step config idle_ms messages...",
)
WORKFLOW_DLQ_RESTART = Script(
    "workflow_dlq_restart",
    "gate wait run steps members runs old_message messages...",
    "gated run_id config created_ms step idle_ms stream_id messages...",
    continues="workflow_trigger",
)
WORKFLOW_DLQ_CALLBACK = Script(
    "workflow_dlq_callback",
    "run callback messages...",
    "stream_id callback_id callback_stream_id messages...",
)
WORKFLOW_DLQ_RECORD = Script("workflow_dlq_record", "run", "callback_id record")

ALL = (
    PUBLISH, PUBLISH_ONCE, PUBLISH_BATCH, PROMOTE, START, EXTEND, SETTLE_DELIVERED,
    SETTLE_RETRY, SETTLE_FAILED, SETTLE_CANCELLED, GATE_ENTER, CANCEL, DLQ_RETRY, GATE_SET,
    GATE_DELETE,
    FLOW_CONTROL_EXPIRE, CONSUMERS_PRUNE, SCHEDULE_SAVE, SCHEDULE_CLAIM, SCHEDULE_DELETE,
    SCHEDULE_PAUSE, SCHEDULE_LEASE, SIGNING_ROTATE, WORKFLOW_TRIGGER, WORKFLOW_APPEND,
    WORKFLOW_RENDER, WORKFLOW_END, WORKFLOW_WAIT, WORKFLOW_NOTIFY, WORKFLOW_HOLD,
    WORKFLOW_DLQ_RESUME, WORKFLOW_DLQ_RESTART, WORKFLOW_DLQ_CALLBACK, WORKFLOW_DLQ_RECORD,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Loaded:
    source: str
    sha: str


@dataclass(slots=True)
class _Call:
    """A queued script call: the caller's future, the script, its KEYS and ARGV."""

    future: asyncio.Future[Any]
    script: Script
    keys: list[str]
    args: list[Arg]


class Scripts:
    """The loaded scripts on one connection, and the one way to call them.

    Calls made in the same event-loop turn go to Redis together, as one non-transactional
    pipeline: a busy worker settles dozens of deliveries per turn, and one round trip for
    all of them instead of one each cut CPU per delivery by a quarter (docs/performance-log.md).
    Each script stays atomic on its own; callers see no difference but the saved latency.

    On a cluster a turn's calls are split by the node that owns their first key, one
    pipeline per node, sent together: a node that fails fails only its own callers. Script
    caches are per node (and empty after a failover or on a new node), so a NOSCRIPT reply
    loads the script on every primary, outside any pipeline, and resends just those calls.
    """

    def __init__(self, redis: Client, events_max: int) -> None:
        self._redis = redis
        self._events_max = events_max
        self._loaded = {s.name: _loaded(s) for s in ALL}
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def call(
        self,
        script: Script,
        partition: PartitionKeys | None,
        keys: Mapping[str, str],
        args: Mapping[str, Arg],
        tail_keys: Sequence[str] = (),
        tail_args: Sequence[Arg] = (),
    ) -> Any:
        """Run `script` (EVALSHA, loading it when Redis lacks it); a partition script gets
        `partition`'s base keys and arguments first."""
        own_keys, own_args = script.bind(keys, args, tail_keys, tail_args)
        if script.partition:
            assert partition is not None, script.name
            own_keys = [partition.ready, partition.delayed, partition.events, partition.dlq,
                        *own_keys]  # fmt: skip
            own_args = [self._events_max, GROUP, *own_args]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._start_flush)
        self._pending.append(_Call(future, script, own_keys, own_args))
        return await future

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        groups = self._by_node(batch)
        if len(groups) == 1:  # no gather (a task per node) for the common case
            [(node, calls)] = groups.items()
            await self._run(calls, node)
            return
        await asyncio.gather(*(self._run(calls, node) for node, calls in groups.items()))

    def _by_node(self, batch: list[_Call]) -> dict[ClusterNode | None, list[_Call]]:
        """The batch split by the node owning each call's keys (one group, None, off a
        cluster, or before the cluster client has learnt its slot map)."""
        client = self._redis
        if not isinstance(client, RedisCluster) or not client.nodes_manager.slots_cache:
            return {None: batch}
        groups: dict[ClusterNode | None, list[_Call]] = {}
        for call in batch:
            try:
                node = client.get_node_from_key(call.keys[0])
            except RedisError:  # an uncovered slot: the pipeline reports it per call
                node = None
            groups.setdefault(node, []).append(call)
        return groups

    async def _run(self, batch: list[_Call], node: ClusterNode | None) -> None:
        try:
            results = await self._send(batch, node)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:  # a restart, a failover, a new node: load, resend those
                await self._load({batch[i].script.name for i in missing})
                resent = await self._send([batch[i] for i in missing], node)
                for index, result in zip(missing, resent, strict=True):
                    results[index] = result
        except Exception as exc:  # every waiting caller of this node gets the failure
            results = [exc] * len(batch)
        for call, result in zip(batch, results, strict=True):
            if call.future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                call.future.set_exception(result)
            else:
                call.future.set_result(result)

    async def _send(self, batch: list[_Call], node: ClusterNode | None) -> list[Any]:
        """EVALSHA each call in one pipeline. Calling redis-py's script objects on a pipeline
        would send SCRIPT EXISTS before every batch (a third of all round trips); a NOSCRIPT
        reply instead means that call never ran, so resending it is safe. EVALSHA goes as a
        raw command: the cluster pipeline refuses `evalsha`.

        On a cluster the node is named, sparing redis-py's per-command routing (it parses
        every key of every call: half the client's CPU on the cluster); a MOVED reply (a
        slot that moved since) is still followed, routed by the keys."""
        if len(batch) == 1 and not isinstance(self._redis, RedisCluster):
            return [await self._send_one(batch[0])]
        route = {"target_nodes": node} if node is not None else {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for call in batch:
                sha = self._loaded[call.script.name].sha
                keys, args = call.keys, call.args
                pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args, **route)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def _send_one(self, call: _Call) -> Any:
        """A turn's only call, without building a pipeline (a sequential caller's every
        call: the pipeline doubled the client CPU of a script call, docs/performance-log.md).
        An error reply is the call's result, as `raise_on_error=False` makes it above."""
        sha = self._loaded[call.script.name].sha
        try:
            return await self._redis.execute_command(
                "EVALSHA", sha, len(call.keys), *call.keys, *call.args
            )
        except ResponseError as exc:
            return exc

    async def load_all(self) -> None:
        """Load every script up front (on every primary), so that steady state sees no
        NOSCRIPT round trip; `call` still recovers when a cache is emptied later."""
        await self._load(set(self._loaded))

    async def _load(self, names: set[str]) -> None:
        """SCRIPT LOAD on the server, or on every primary of a cluster."""
        await asyncio.gather(*(self._redis.script_load(self._loaded[n].source) for n in names))


def _loaded(script: Script) -> _Loaded:
    """The script's source and SHA1, computed locally: nothing reaches Redis before a call."""
    source = script.source()
    return _Loaded(source, hashlib.sha1(source.encode()).hexdigest())
