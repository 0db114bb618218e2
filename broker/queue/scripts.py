"""Every Lua script, declared once: the names of its KEYS and ARGV, and the prelude it needs.

Each `.lua` file in scripts/ opens with `-- KEYS:` and `-- ARGV:` lines naming what it takes,
word for word the declaration below (tests/unit/test_scripts.py holds them together). The
loader turns those names into the `KEY` and `ARG` tables the script reads, so no script and no
caller counts positions. A trailing `name...` is a variadic tail whose first index the script
finds in `KEY_TAIL` / `ARG_TAIL`.

Scripts of a message partition get the partition prelude (partition.lua) and the partition's
base keys and arguments before their own: `ready delayed events dlq` and `events_maxlen
group`. Scripts of the other slots (schedules, signing keys) get only the key-free core.
Of a prelude, a script gets only the definitions it uses (_used_definitions).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import NoScriptError, RedisError, ResponseError

from broker.queue.direct import send_commands
from broker.queue.keys import GROUP, PartitionKeys

if TYPE_CHECKING:
    from broker.queue.connection import Client

Arg = bytes | str | int
PARTITION_KEYS = ("ready", "delayed", "events", "dlq")
PARTITION_ARGS = ("events_maxlen", "group")
_FOLDER = resources.files("broker.queue") / "scripts"

# The batched form's head (Script.batch_source): KEYS, ARGV, KEY and ARG are locals that
# select_call refills for one call after another; the prelude's functions see them as upvalues,
# and the partition prelude reads the partition's keys (the same for every call) at load. The
# four tables are made once per command, not once per call: a table each per call was most of
# what the scripts allocate, and Redis spent ~a third of its time in malloc and Lua's garbage
# collector on them (docs/performance-log.md, 2026-12-02 third session). Refilling clears what
# a longer previous call left at the end, so each call sees exactly its own tails.
_BATCH_SELECT = """local BATCH_KEYS, BATCH_ARGV = KEYS, ARGV
local KEYS = {{BATCH_KEYS[1], BATCH_KEYS[2], BATCH_KEYS[3], BATCH_KEYS[4]}}
local ARGV = {{BATCH_ARGV[1], BATCH_ARGV[2]}}
local KEY, ARG = {{}}, {{}}
local KEY_TAIL, ARG_TAIL = {tails}
local BATCH_CALLS = tonumber(BATCH_ARGV[3])
local batch_key_at, batch_arg_at = 5, 4 + 2 * BATCH_CALLS
local keys_end, args_end = 4, 2
-- into[first ..] = from[at ..] (count values), clearing into[] up to old_end; the new end.
local function refill(into, first, from, at, count, old_end)
  for j = 0, count - 1 do into[first + j] = from[at + j] end
  for j = first + count, old_end do into[j] = nil end
  return first + count - 1
end
local function select_call(i)
  local key_count, arg_count = tonumber(BATCH_ARGV[2 + 2 * i]), tonumber(BATCH_ARGV[3 + 2 * i])
  keys_end = refill(KEYS, 5, BATCH_KEYS, batch_key_at, key_count, keys_end)
  args_end = refill(ARGV, 3, BATCH_ARGV, batch_arg_at, arg_count, args_end)
  batch_key_at, batch_arg_at = batch_key_at + key_count, batch_arg_at + arg_count
  {keys}
  {args}
end
select_call(1)"""
# Each call's reply is two values, 1 and its reply or 0 and its error, in one flat array (a
# table per call would be garbage too); a nil reply is sent as false (nil would end the array),
# which reaches the client as None either way.
_BATCH_RUN = """local replies = {}
for i = 1, BATCH_CALLS do
  if i > 1 then select_call(i) end
  local ok, reply = pcall(run_call)
  if not ok then
    reply = type(reply) == 'table' and reply.err or tostring(reply)
  elseif reply == nil then
    reply = false
  end
  replies[2 * i - 1], replies[2 * i] = ok and 1 or 0, reply
end
return replies"""


_DEFINED = re.compile(r"^local function (\w+)|^local ([\w ,]+?)\s*=")
_WORD = re.compile(r"[A-Za-z_]\w*")


def _definitions(prelude: str) -> list[tuple[frozenset[str], str]]:
    """A prelude's top-level statements, each with the comment right above it, and the local
    names each defines. A prelude's statements are all definitions: each top-level line is a
    `local` statement, the `end` of one, a comment or blank (nothing runs for its effect)."""
    lines = prelude.splitlines(keepends=True)
    starts = [0]
    for index, line in enumerate(lines):
        if line.startswith("local "):
            start = index
            while start > starts[-1] and lines[start - 1].startswith("--"):
                start -= 1
            starts.append(start)
    pieces = ["".join(lines[a:b]) for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]
    return [(_defined_names(piece), piece) for piece in pieces if piece]


def _defined_names(statement: str) -> frozenset[str]:
    match = next(filter(None, map(_DEFINED.match, statement.splitlines())), None)
    if match is None:
        return frozenset()
    return frozenset(name.strip() for name in (match.group(1) or match.group(2)).split(","))


def _used_definitions(preludes: list[str], body: str) -> str:
    """The preludes' definitions that `body` uses, directly or through another kept one, in
    their order. A Lua local is visible only below its definition, so one pass from the
    last definition up finds them all. Names are matched as words, comments included: at
    worst an unused definition stays. Running the unused ones cost every call a closure
    each, and their code kept the Lua heap that every collection walks ~40% larger
    (docs/performance-log.md, 2026-12-04)."""
    definitions = [d for prelude in preludes for d in _definitions(prelude)]
    used, kept = set(_WORD.findall(body)), []
    for names, text in reversed(definitions):
        if names and not names & used:
            continue
        kept.append(text)
        used.update(_WORD.findall(text))
    return "".join(reversed(kept))


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
    own_key_names: tuple[str, ...] = field(init=False)
    """The names a caller passes (key_names without the partition's base keys)."""
    own_arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        base_keys, base_args = (PARTITION_KEYS, PARTITION_ARGS) if self.partition else ((), ())
        own_keys, own_args = _names(self.keys)[0], _names(self.args)[0]
        object.__setattr__(self, "key_names", base_keys + own_keys)
        object.__setattr__(self, "arg_names", base_args + own_args)
        object.__setattr__(self, "own_key_names", own_keys)
        object.__setattr__(self, "own_arg_names", own_args)

    def source(self) -> str:
        """The Lua sent to Redis: name bindings, what it uses of core and prelude, body."""
        body = "\n".join(self._body())
        return "\n".join([self._bindings(), self._prelude(body), body])

    def batch_source(self) -> str:
        """The batched form of a partition script: one EVALSHA runs several calls of it on
        one partition, one after the other, each as if it ran alone (its own KEYS, ARGV,
        KEY, ARG and tails; an error fails only its own call). The prelude runs once.

        KEYS: the partition's keys, then each call's own keys (declared ones and tail), call
        after call. ARGV: the partition's args, the call count n, each call's own key count
        and arg count (2n values), then each call's own args, call after call.
        """
        assert self.partition, self.name
        body = "\n".join(self._body())
        return "\n".join([_BATCH_SELECT.format(
            keys=self._assigned("KEY", "KEYS", self.key_names),
            args=self._assigned("ARG", "ARGV", self.arg_names),
            tails=self._tails()),
            self._prelude(body),
            f"local function run_call()\n{body}\nend",
            _BATCH_RUN,
        ])  # fmt: skip

    def _prelude(self, body: str) -> str:
        """What `body` uses of the core and (in a partition) of the partition prelude."""
        names = ["core.lua", "partition.lua"] if self.partition else ["core.lua"]
        return _used_definitions([(_FOLDER / name).read_text() for name in names], body)

    def _body(self) -> list[str]:
        names = [self.name, self.continues] if self.continues else [self.name]
        return [(_FOLDER / f"{name}.lua").read_text() for name in names]

    def _bindings(self) -> str:
        keys, args = self._named("KEYS", self.key_names), self._named("ARGV", self.arg_names)
        return f"local KEY = {keys}\nlocal ARG = {args}\nlocal KEY_TAIL, ARG_TAIL = {self._tails()}"

    @staticmethod
    def _named(array: str, names: tuple[str, ...]) -> str:
        """A Lua table constructor naming `array`'s leading values."""
        return "{" + ", ".join(f"{n} = {array}[{i}]" for i, n in enumerate(names, 1)) + "}"

    @staticmethod
    def _assigned(table: str, array: str, names: tuple[str, ...]) -> str:
        """A Lua statement setting `table`'s named fields to `array`'s leading values."""
        if not names:
            return ""
        fields = ", ".join(f"{table}.{n}" for n in names)
        return f"{fields} = " + ", ".join(f"{array}[{i}]" for i in range(1, len(names) + 1))

    def _tails(self) -> str:
        return f"{len(self.key_names) + 1}, {len(self.arg_names) + 1}"

    def bind(
        self,
        keys: Mapping[str, str],
        args: Mapping[str, Arg],
        tail_keys: Sequence[str] = (),
        tail_args: Sequence[Arg] = (),
    ) -> tuple[list[str], list[Arg]]:
        """The caller's named keys and args → its part of KEYS and ARGV, in declaration order
        (a partition script's base keys and args go first: _Command); a wrong name is a bug."""
        if tuple(keys) != self.own_key_names or tuple(args) != self.own_arg_names:
            raise TypeError(f"{self.name}: expected {self.own_key_names} / {self.own_arg_names}")
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
READY_TRIM = Script("ready_trim", "", "span_ms scan")
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
    PUBLISH, PUBLISH_ONCE, PUBLISH_BATCH, PROMOTE, START, EXTEND, READY_TRIM, SETTLE_DELIVERED,
    SETTLE_RETRY, SETTLE_FAILED, SETTLE_CANCELLED, GATE_ENTER, CANCEL, DLQ_RETRY, GATE_SET,
    GATE_DELETE,
    FLOW_CONTROL_EXPIRE, CONSUMERS_PRUNE, SCHEDULE_SAVE, SCHEDULE_CLAIM, SCHEDULE_DELETE,
    SCHEDULE_PAUSE, SCHEDULE_LEASE, SIGNING_ROTATE, WORKFLOW_TRIGGER, WORKFLOW_APPEND,
    WORKFLOW_RENDER, WORKFLOW_END, WORKFLOW_WAIT, WORKFLOW_NOTIFY, WORKFLOW_HOLD,
    WORKFLOW_DLQ_RESUME, WORKFLOW_DLQ_RESTART, WORKFLOW_DLQ_CALLBACK, WORKFLOW_DLQ_RECORD,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A script's source and SHA1, computed locally: nothing reaches Redis before a call."""

    source: str
    sha: str
    batched: bool

    @classmethod
    def of(cls, source: str, batched: bool = False) -> _Loaded:
        return cls(source, hashlib.sha1(source.encode()).hexdigest(), batched)


@dataclass(frozen=True, slots=True)
class _Forms:
    """A script's forms: alone, and batched (partition scripts only)."""

    single: _Loaded
    batched: _Loaded | None

    @classmethod
    def of(cls, script: Script) -> _Forms:
        batched = _Loaded.of(script.batch_source(), batched=True) if script.partition else None
        return cls(_Loaded.of(script.source()), batched)


@dataclass(slots=True)
class _Call:
    """A queued script call: the caller's future, the script, the partition it runs in
    (None for the other slots' scripts), and the caller's own KEYS and ARGV."""

    future: asyncio.Future[Any]
    script: Script
    partition: PartitionKeys | None
    keys: list[str]
    args: list[Arg]

    @property
    def first_key(self) -> str:
        """The key that routes the call to its node."""
        return self.partition.ready if self.partition is not None else self.keys[0]


@dataclass(slots=True)
class _Command:
    """One EVALSHA on the wire: one call, or several calls of one partition script on one
    partition in its batched form (Script.batch_source). A partition script's KEYS and ARGV
    start with the partition's base keys and `base_args` (PARTITION_KEYS, PARTITION_ARGS)."""

    calls: list[_Call]
    form: _Loaded
    keys: list[str]
    args: list[Arg]

    @classmethod
    def single(cls, call: _Call, forms: _Forms, base_args: list[Arg]) -> _Command:
        if call.partition is None:
            return cls([call], forms.single, call.keys, call.args)
        keys = [*call.partition.base_keys, *call.keys]
        return cls([call], forms.single, keys, [*base_args, *call.args])

    @classmethod
    def batched(cls, calls: list[_Call], forms: _Forms, base_args: list[Arg]) -> _Command:
        assert forms.batched is not None
        assert calls[0].partition is not None
        keys = list(calls[0].partition.base_keys)
        args: list[Arg] = [*base_args, len(calls)]
        for call in calls:
            args += (len(call.keys), len(call.args))
        for call in calls:
            keys += call.keys
            args += call.args
        return cls(calls, forms.batched, keys, args)

    @property
    def evalsha(self) -> tuple[Arg, ...]:
        """The command's words, as sent."""
        return ("EVALSHA", self.form.sha, len(self.keys), *self.keys, *self.args)

    def results(self, reply: Any) -> list[Any]:
        """Each call's result: an error reply fails every call of the command; a batched
        reply holds 1 and the result, or 0 and the error, per call."""
        if isinstance(reply, Exception):
            return [reply] * len(self.calls)
        if self.form.batched:
            return [_batched_result(*reply[i : i + 2]) for i in range(0, len(reply), 2)]
        return [reply]


def _batched_result(ok: int, reply: Any) -> Any:
    if ok == 1:
        return reply
    message = reply.decode() if isinstance(reply, bytes) else str(reply)
    return ResponseError(message)


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
        # Asked once: RedisCluster's metaclass is typing's Protocol meta, whose isinstance
        # check costs ~0.7 µs, twice per flush (docs/performance-log.md, 2026-12-02).
        self._cluster = redis if isinstance(redis, RedisCluster) else None
        self._server = None if isinstance(redis, RedisCluster) else redis
        self._forms = {s.name: _Forms.of(s) for s in ALL}
        self._base_args: list[Arg] = [events_max, GROUP]  # PARTITION_ARGS
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    def call(
        self,
        script: Script,
        partition: PartitionKeys | None,
        keys: Mapping[str, str],
        args: Mapping[str, Arg],
        tail_keys: Sequence[str] = (),
        tail_args: Sequence[Arg] = (),
    ) -> asyncio.Future[Any]:
        """Run `script` (EVALSHA, loading it when Redis lacks it); a partition script gets
        `partition`'s base keys and arguments first. Await the future for its reply.

        A plain function returning the future, not a coroutine: a settle already passes
        three coroutine frames on its way here, and a fourth cost ~1 µs per call."""
        own_keys, own_args = script.bind(keys, args, tail_keys, tail_args)
        assert (partition is not None) == script.partition, script.name
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._start_flush)
        self._pending.append(_Call(future, script, partition, own_keys, own_args))
        return future

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
        client = self._cluster
        if client is None or not client.nodes_manager.slots_cache:
            return {None: batch}
        groups: dict[ClusterNode | None, list[_Call]] = {}
        for call in batch:
            try:
                node = client.get_node_from_key(call.first_key)
            except RedisError:  # an uncovered slot: the pipeline reports it per call
                node = None
            groups.setdefault(node, []).append(call)
        return groups

    async def _run(self, batch: list[_Call], node: ClusterNode | None) -> None:
        commands = self._commands(batch)
        try:
            replies = await self._send(commands, node)
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:  # a restart, a failover, a new node: load, resend those
                await self._load({commands[i].form for i in missing})
                resent = await self._send([commands[i] for i in missing], node)
                for index, reply in zip(missing, resent, strict=True):
                    replies[index] = reply
        except Exception as exc:  # every waiting caller of this node gets the failure
            replies = [exc] * len(commands)
        for command, reply in zip(commands, replies, strict=True):
            for call, result in zip(command.calls, command.results(reply), strict=True):
                if call.future.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(result, Exception):
                    call.future.set_exception(result)
                else:
                    call.future.set_result(result)

    def _commands(self, batch: list[_Call]) -> list[_Command]:
        """The turn's calls as EVALSHA commands: calls of one partition script on one
        partition go as one command of its batched form, so Redis runs the prelude and
        the client packs the partition's keys once for all of them (a busy worker's
        settles, a busy ingress's publishes)."""
        grouped: dict[tuple[str, str], list[_Call]] = {}
        commands: list[_Command] = []
        base_args = self._base_args
        for call in batch:
            if call.partition is not None:
                grouped.setdefault((call.script.name, call.partition.ready), []).append(call)
            else:
                commands.append(_Command.single(call, self._forms[call.script.name], base_args))
        for calls in grouped.values():
            forms = self._forms[calls[0].script.name]
            if len(calls) == 1:
                commands.append(_Command.single(calls[0], forms, base_args))
            else:
                commands.append(_Command.batched(calls, forms, base_args))
        return commands

    async def _send(self, commands: list[_Command], node: ClusterNode | None) -> list[Any]:
        """EVALSHA each command, all in one write. Calling redis-py's script objects on a
        pipeline would send SCRIPT EXISTS before every batch (a third of all round trips); a
        NOSCRIPT reply instead means that command never ran, so resending it is safe. Off a
        cluster they go on one pooled connection past redis-py's per-call layers (direct.py);
        a cluster's pipeline takes EVALSHA only as a raw command.

        On a cluster the node is named, sparing redis-py's per-command routing (it parses
        every key of every call: half the client's CPU on the cluster); a MOVED reply (a
        slot that moved since) is still followed, routed by the keys."""
        if self._server is not None:
            return await send_commands(self._server, [command.evalsha for command in commands])
        assert self._cluster is not None
        route = {"target_nodes": node} if node is not None else {}
        async with self._cluster.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command.evalsha, **route)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    async def load_all(self) -> None:
        """Load every script up front (on every primary), both forms, so that steady state
        sees no NOSCRIPT round trip; `call` still recovers when a cache is emptied later."""
        forms = {f for s in self._forms.values() for f in (s.single, s.batched) if f is not None}
        await self._load(forms)

    async def _load(self, forms: set[_Loaded]) -> None:
        """SCRIPT LOAD on the server (one pipeline), or on every primary of a cluster (one
        script at a time, each to every primary). Not concurrently: that took a connection
        per script, ~60 new connections at every role's start (a fleet of workers restarting
        at once multiplies them), each one a chance to meet a connect timeout."""
        if self._cluster is not None:
            for form in forms:
                await self._cluster.script_load(form.source)
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for form in forms:
                pipe.script_load(form.source)
            await pipe.execute()
