"""The Lua scripts, loaded once with the shared prelude, behind one typed wrapper each.

Script files list their KEYS/ARGV at the top; lib.lua explains the common layout: the four
partition keys come first, then ARGV[1] = events MAXLEN and ARGV[2] = consumer group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from broker.queue.keys import GROUP, PartitionKeys

_NAMES = (
    "publish",
    "promote",
    "start",
    "settle_delivered",
    "settle_retry",
    "settle_failed",
    "extend",
    "cancel",
    "dlq_retry",
    "publish_once",
    "settle_cancelled",
    "gate_set",
)


def _source(name: str) -> str:
    folder = resources.files("broker.queue") / "scripts"
    return (folder / "lib.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


_Call = tuple["asyncio.Future[Any]", str, list[Any], list[Any]]
"""A queued script call: the caller's future, the script name, its keys and arguments."""


class Scripts:
    """Registered scripts; `run` supplies the partition keys and common arguments.

    Calls made in the same event-loop turn go to Redis together, as one non-transactional
    pipeline: a busy worker settles dozens of deliveries per turn, and one round trip for
    all of them instead of one each cut CPU per delivery by a quarter (docs/performance.md).
    Each script stays atomic on its own; callers see no difference but the saved latency.
    """

    def __init__(self, redis: Redis, events_max: int) -> None:
        self._redis = redis
        self._events_max = events_max
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(_source(name)) for name in _NAMES
        }
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def run(
        self,
        name: str,
        partition: PartitionKeys,
        keys: Sequence[str] = (),
        args: Sequence[Any] = (),
    ) -> Any:
        """Call script `name` on one partition (EVALSHA, loading it when Redis lacks it)."""
        base_keys = [partition.ready, partition.delayed, partition.events, partition.dlq]
        base_args = [self._events_max, GROUP]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._start_flush)
        self._pending.append((future, name, [*base_keys, *keys], [*base_args, *args]))
        return await future

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            results = await self._send(batch)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted or flushed its script cache: load, resend those
                resent = await self._send([batch[i] for i in missing], load_first=True)
                for index, result in zip(missing, resent, strict=True):
                    results[index] = result
        except Exception as exc:  # every waiting caller gets the failure
            results = [exc] * len(batch)
        for (future, *_), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _send(self, batch: list[_Call], load_first: bool = False) -> list[Any]:
        """EVALSHA each call in one pipeline. Calling the script objects on a pipeline would
        make redis-py send SCRIPT EXISTS before every batch (a third of all round trips); a
        NOSCRIPT reply instead means that call never ran, so resending it is safe."""
        async with self._redis.pipeline(transaction=False) as pipe:
            if load_first:
                for name in {name for _, name, _, _ in batch}:
                    pipe.script_load(self._scripts[name].script)
            for _, name, keys, args in batch:
                pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results[len(results) - len(batch) :]
