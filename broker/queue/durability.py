"""What one Redis server does with acknowledged messages: whether it may evict them
(`maxmemory-policy`) and how it persists them (AOF and its fsync, RDB snapshots).

Read from `CONFIG GET`, else, where a managed Redis disables CONFIG, from `INFO persistence`
and `INFO memory`; what neither tells stays None ("unknown"). The functions take one server
(a client, or a cluster primary from `Connection.primaries`), and `readiness` runs them on
every primary. /readyz refuses an evicting server
(broker/health.py) and every role logs the persistence mode when it starts (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import ResponseError

from broker.health import Readiness
from broker.queue.connection import Connection


class Server(Protocol):
    """One Redis server: a standalone client, or a `Node` of a cluster."""

    def execute_command(self, *args: Any, **options: Any) -> Awaitable[Any]: ...


UNKNOWN = "unknown"
NO_EVICTION = "noeviction"

EVICTS = "Redis may evict keys (maxmemory-policy is not noeviction)"
"""The readiness problem of an evicting server: a fixed phrase, since /readyz shows it to
anyone (the policy's name is in the log line)."""

# What a crash of the Redis server (kill -9, power loss) may take of acknowledged writes.
_LOSSES = {
    "always": "nothing acknowledged (each write is fsynced before its reply)",
    "everysec": "about the last second of acknowledged writes",
    "no": "the writes the OS has not flushed yet (often tens of seconds)",
}


@dataclass(frozen=True, slots=True)
class Durability:
    """One server's eviction policy and persistence; None where it could not be read."""

    eviction_policy: str | None
    appendonly: bool | None
    appendfsync: str | None
    rdb: bool | None  # whether snapshots are configured (`save` points)

    @property
    def evicts(self) -> bool | None:
        """Whether the server may drop keys under memory pressure; None when unknown."""
        if self.eviction_policy is None:
            return None
        return self.eviction_policy != NO_EVICTION

    @property
    def mode(self) -> str:
        """`aof-everysec`, `aof-always`, `aof-no` (plus `+rdb`), `rdb`, `none` or `unknown`."""
        if self.appendonly:
            fsync = f"aof-{self.appendfsync or UNKNOWN}"
            return fsync + ("+rdb" if self.rdb else "")
        if self.appendonly is None or self.rdb is None:
            return UNKNOWN
        return "rdb" if self.rdb else "none"

    @property
    def may_lose(self) -> str:
        """What a crash of the server may lose, in words for the startup log line."""
        if self.appendonly:
            return _LOSSES.get(self.appendfsync or "", "unknown (appendfsync could not be read)")
        if self.mode == "rdb":
            return "every write since the last RDB snapshot"
        if self.mode == "none":
            return "everything: nothing is persisted"
        return "unknown (the persistence settings could not be read)"


def eviction_problem(durability: Durability, allow_eviction: bool) -> str | None:
    """The readiness problem of `durability`: an evicting server, unless the operator accepts
    it (HOOKSTREAM_ALLOW_EVICTION). An unknown policy is no problem: a managed Redis that hides
    it must not make every pod unready."""
    if durability.evicts and not allow_eviction:
        return EVICTS
    return None


async def readiness(conn: Connection, allow_eviction: bool) -> Readiness:
    """`server_readiness` of every primary: ready when each is, with their persistence
    modes (one mode when they agree, as they should)."""
    verdicts = await asyncio.gather(
        *(server_readiness(node, allow_eviction) for node in conn.primaries())
    )
    problems = [v.problem for v in verdicts if v.problem]
    modes = sorted({v.persistence or UNKNOWN for v in verdicts})
    return Readiness(problems[0] if problems else None, ", ".join(modes))


async def server_readiness(server: Server, allow_eviction: bool) -> Readiness:
    """Whether this server may hold acknowledged messages: it answers, and does not evict."""
    await server.execute_command("PING")
    durability = await read_durability(server)
    return Readiness(eviction_problem(durability, allow_eviction), durability.mode)


async def read_durability(server: Server) -> Durability:
    """The server's settings by CONFIG GET; by INFO where CONFIG is disabled or renamed."""
    try:
        config = await _config(server)
    except ResponseError:
        return await _from_info(server)
    return Durability(
        eviction_policy=config.get("maxmemory-policy"),
        appendonly=_yes(config.get("appendonly")),
        appendfsync=config.get("appendfsync"),
        rdb=None if "save" not in config else bool(config["save"].strip()),
    )


async def _config(server: Server) -> dict[str, str]:
    """The four settings, one CONFIG GET each (several patterns in one need Redis 7)."""
    names = ("maxmemory-policy", "appendonly", "appendfsync", "save")
    replies = await asyncio.gather(*(server.execute_command("CONFIG GET", n) for n in names))
    config: dict[str, str] = {}
    for reply in replies:
        config |= {_text(k): _text(v) for k, v in reply.items()}
    return config


async def _from_info(server: Server) -> Durability:
    """INFO tells the policy and whether the AOF is on, not the fsync mode or save points."""
    try:
        memory = await server.execute_command("INFO", "memory")
        persistence = await server.execute_command("INFO", "persistence")
    except ResponseError:
        return Durability(None, None, None, None)
    aof = persistence.get("aof_enabled")
    policy = memory.get("maxmemory_policy")
    return Durability(
        eviction_policy=None if policy is None else _text(policy),
        appendonly=None if aof is None else str(aof) == "1",
        appendfsync=None,
        rdb=None,
    )


def _yes(value: str | None) -> bool | None:
    return None if value is None else value.lower() == "yes"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
