"""The Redis connection every role shares, with the scripts registered on it.

One home for how hookstream reaches Redis, in three modes (HOOKSTREAM_REDIS_MODE):

- `standalone`: one server at REDIS_URL (or a proxy that always routes to the master);
- `cluster`: Redis Cluster, REDIS_URL naming any node; the client learns the slot map;
- `sentinel`: the master of HOOKSTREAM_REDIS_MASTER_NAME, asked of HOOKSTREAM_REDIS_SENTINELS;
  REDIS_URL, when set, only gives the credentials and database;
- `auto` (the default) asks the server at REDIS_URL (`INFO cluster`) whether it is a
  cluster node.

Whatever the mode, three rules hold (docs/scaling.md):

- **No command is ever re-sent blindly.** A script whose reply was lost may have run: sending
  it again could publish a message twice or count an attempt twice. So every client has
  `Retry(NoBackoff(), 0)`; a dropped connection fails its callers, who answer 503 or retry a
  step that is idempotent. MOVED and ASK (the command did not run) are still followed.
- **Bursts wait for a connection** instead of failing: a blocking pool on one server, and on
  a cluster (whose per-node pools raise at once when full) a semaphore in front of them.
- **Explicit timeouts**: connect, and every reply, with the reply timeout well above the
  longest XREADGROUP BLOCK (settings.REDIS_TIMEOUT_FLOOR_MS).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis.asyncio
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.typing import EncodableT, StreamRangeResponse

from broker.errors import ConfigError
from broker.queue.keys import GROUP, PartitionKeys, partition_keys
from broker.queue.scripts import Scripts
from broker.settings import Settings

Client = Redis | RedisCluster
"""What `Connection.redis` is: one server (standalone, sentinel) or a cluster."""

# redis-py types replies loosely (`bytes | str`, optional entries) to cover every client
# option; ours never set decode_responses, so replies are bytes. These casts say so once.
StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


def stream_entries(reply: StreamRangeResponse | None) -> StreamEntries:
    """An XRANGE / XREVRANGE reply: (entry id, fields) pairs."""
    return cast(StreamEntries, reply)


def members(reply: set[bytes | str]) -> set[bytes]:
    """An SMEMBERS reply."""
    return cast(set[bytes], reply)


class _HiredisPacking(redis.asyncio.Connection):
    """Packs commands with hiredis' C encoder instead of redis-py's pure-Python one, which
    cost ~10% of worker and ingress CPU (docs/performance-log.md, the hiredis packing entry).
    Same bytes."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        head = args[0]
        # Like redis-py: a command name with a space ("SCRIPT LOAD") is several arguments.
        if isinstance(head, str):
            args = (*head.encode().split(), *args[1:])
        elif isinstance(head, bytes) and b" " in head:
            args = (*head.split(), *args[1:])
        # hiredis' stub types the argument as a 1-tuple; any length is accepted at run time.
        try:
            return [hiredis.pack_command(cast(Any, args))]
        except TypeError:  # a bytearray, which hiredis refuses: converted only then
            encoded = tuple(bytes(a) if isinstance(a, bytearray) else a for a in args)
            return [hiredis.pack_command(cast(Any, encoded))]


class _HiredisSentinelConnection(_HiredisPacking, SentinelManagedConnection):
    """The sentinel-managed connection (finds the master on connect), hiredis-packed."""


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's sentinel pool raises when full; this one waits, like the standalone pool."""


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def _socket_options(settings: Settings) -> dict[str, Any]:
    """Timeouts and the no-retry rule every connection of every mode gets."""
    return {
        "socket_timeout": settings.redis_timeout_ms / 1000,
        "socket_connect_timeout": settings.redis_connect_timeout_ms / 1000,
        "retry": _no_retry(),
        "retry_on_timeout": False,
    }


def pool_size(settings: Settings) -> int:
    """Connections per server: one blocked read per partition, the concurrency, and room for
    the API's commands and the background loops."""
    return settings.worker_concurrency + settings.partitions + 64


def standalone_client(settings: Settings, url: str) -> Redis:
    """One server: a blocking pool makes a burst of requests wait for a free connection
    instead of failing with "Too many connections"."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=pool_size(settings), timeout=30, **_socket_options(settings)
    )
    if pool.connection_class is redis.asyncio.Connection:  # plain TCP (not TLS or a socket)
        pool.connection_class = _HiredisPacking
    return Redis.from_pool(pool)  # the client owns the pool: aclose() disconnects it


def sentinel_client(settings: Settings, url: str | None) -> Redis:
    """The master the sentinels name; after a failover, connections re-ask them."""
    if not settings.redis_sentinels or not settings.redis_master_name:
        raise ConfigError(
            "HOOKSTREAM_REDIS_MODE=sentinel needs HOOKSTREAM_REDIS_SENTINELS (host:port,...) "
            "and HOOKSTREAM_REDIS_MASTER_NAME"
        )
    credentials = parse_url(url) if url else {}
    wanted = ("username", "password", "db")
    master_kwargs = {k: v for k, v in credentials.items() if k in wanted}
    timeouts = {k: v for k, v in _socket_options(settings).items() if k.startswith("socket")}
    options: dict[str, Any] = {
        "connection_class": _HiredisSentinelConnection,
        "max_connections": pool_size(settings),
        "timeout": 30,  # the blocking pool's wait for a free connection
        **_socket_options(settings),
        **master_kwargs,
    }
    sentinel = Sentinel(list(settings.redis_sentinels), sentinel_kwargs=timeouts)
    master = sentinel.master_for(
        settings.redis_master_name, connection_pool_class=_BlockingSentinelPool, **options
    )
    return cast(Redis, master)


# A task that already holds a cluster permit (a pipeline following a MOVED with a single
# command, the tasks it gathers) must not wait for a second one: that could deadlock.
_HOLDING_PERMIT: contextvars.ContextVar[bool] = contextvars.ContextVar("permit", default=False)


class BoundedCluster(RedisCluster):
    """RedisCluster whose callers wait for a permit rather than fail when a node's pool is
    full: each command or pipeline in flight holds one permit and at most one connection
    per node, so with as many permits as a node's pool holds no pool overflows."""

    def __init__(self, permits: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.permits = asyncio.Semaphore(permits)
        # redis-py hard-wires its pure-Python Connection; every node is built from these.
        if self.connection_kwargs["connection_class"] is redis.asyncio.Connection:
            self.connection_kwargs["connection_class"] = _HiredisPacking
            for node in self.nodes_manager.startup_nodes.values():
                node.connection_class = _HiredisPacking

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        return await bounded(self, super().execute_command(*args, **kwargs))

    async def _determine_slot(self, command: str, *args: Any) -> int:
        """XREADGROUP's keys follow its STREAMS word, so redis-py asks the server for them:
        a COMMAND GETKEYS round trip to one node before every read of every worker. Ours
        read one stream (`... STREAMS <key> <id>`), so the key is known here."""
        if command.upper() == "XREADGROUP" and len(args) >= 3 and _upper(args[-3]) == "STREAMS":
            return self.keyslot(args[-2])
        slot: int = await super()._determine_slot(command, *args)
        return slot

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py's own refusal
        # mypy sees an abstract attribute that redis-py's own ClusterPipeline sets at run time.
        return _BoundedPipeline(self, transaction)  # type: ignore[abstract]


class _BoundedPipeline(ClusterPipeline):
    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        cluster = cast(BoundedCluster, self.cluster_client)
        results: list[Any] = await bounded(
            cluster, super().execute(raise_on_error, allow_redirections)
        )
        return results


async def bounded(cluster: BoundedCluster, work: Awaitable[Any]) -> Any:
    """Await `work` holding one of the cluster's permits (or the one this task holds)."""
    if _HOLDING_PERMIT.get():
        return await work
    async with cluster.permits:
        token = _HOLDING_PERMIT.set(True)
        try:
            return await work
        finally:
            _HOLDING_PERMIT.reset(token)


def _upper(word: Any) -> str:
    return (word.decode() if isinstance(word, bytes) else str(word)).upper()


def cluster_client(settings: Settings, url: str) -> BoundedCluster:
    """A cluster reached through any of its nodes; one pool per node."""
    options = {k: v for k, v in parse_url(url).items() if k != "db"}  # clusters have db 0 only
    size = pool_size(settings)
    return BoundedCluster(
        permits=size - 8,  # what pub/sub and a MOVED follow-up may take beside the permits
        max_connections=size,
        # Never re-send (module docstring); refreshes the slot map on errors instead.
        retry=_no_retry(),
        **options,
        **{k: v for k, v in _socket_options(settings).items() if k.startswith("socket")},
    )


async def detect_mode(settings: Settings, url: str) -> str:
    """`cluster` when the server at `url` runs with cluster-enabled, else `standalone`."""
    probe = Redis.from_url(url, single_connection_client=True, **_socket_options(settings))
    try:
        info = await probe.info("cluster")
    finally:
        await probe.aclose()
    return "cluster" if info.get("cluster_enabled") in (1, "1") else "standalone"


@dataclass(frozen=True, slots=True)
class Node:
    """One primary, for what each server answers for itself (PING, INFO, TIME): readiness
    runs its checks on every one of them."""

    name: str
    execute_command: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Connection:
    """A Redis client plus the loaded scripts and the partitions they serve."""

    redis: Client
    scripts: Scripts
    settings: Settings
    mode: str

    @classmethod
    def open(cls, settings: Settings, url: str | None, mode: str | None = None) -> Connection:
        """A connection in `mode` (default: the settings'; `auto` opens it standalone, see
        `connect`). Nothing reaches Redis yet."""
        mode = mode or settings.redis_mode
        client: Client
        if mode == "sentinel":
            client = sentinel_client(settings, url)
        elif not url:
            raise ConfigError("REDIS_URL must be set (or HOOKSTREAM_REDIS_MODE=sentinel)")
        elif mode == "cluster":
            client = cluster_client(settings, url)
        else:
            client = standalone_client(settings, url)
        return cls(client, Scripts(client, settings.events_max), settings, mode)

    @classmethod
    async def connect(cls, settings: Settings, url: str | None) -> Connection:
        """`open`, resolving `auto` by asking the server; learn a cluster's slot map and
        load the scripts."""
        mode = settings.redis_mode
        if mode == "auto":
            if not url:
                raise ConfigError("REDIS_URL must be set (or HOOKSTREAM_REDIS_MODE=sentinel)")
            mode = await detect_mode(settings, url)
        conn = cls.open(settings, url, mode)
        if isinstance(conn.redis, RedisCluster):
            await conn.redis.initialize()
        await conn.scripts.load_all()
        return conn

    @property
    def partitions(self) -> list[PartitionKeys]:
        return [
            partition_keys(p, self.settings.partitions) for p in range(self.settings.partitions)
        ]

    def primaries(self) -> list[Node]:
        """Every primary: the one server, or each cluster master. A readiness check of one
        server (PING, persistence, eviction policy) runs over each of these."""
        client = self.redis
        if not isinstance(client, RedisCluster):
            return [Node("redis", client.execute_command)]
        return [Node(n.name, _on_node(client, n)) for n in client.get_primaries()]

    def node_of(self, key: str) -> Node:
        """The primary that holds `key` (all of its hash tag)."""
        client = self.redis
        if not isinstance(client, RedisCluster):
            return self.primaries()[0]
        node = client.get_node_from_key(key)
        assert node is not None  # get_node_from_key raises for an uncovered slot
        return Node(node.name, _on_node(client, node))

    def dedicated(self, key: str) -> Redis:
        """A client with one connection of its own to the server holding `key`: a blocked
        read holds its connection for seconds, and CLIENT UNBLOCK names it by id. On a cluster
        it is a plain client of that node; ask again after an error (the slot may move)."""
        client = self.redis
        if not isinstance(client, RedisCluster):
            return client.client()
        node = client.get_node_from_key(key)
        assert node is not None  # get_node_from_key raises for an uncovered slot
        kwargs = client.connection_kwargs
        return Redis(
            host=node.host,
            port=int(node.port),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            single_connection_client=True,
            # The options every pool gets, but retry_on_timeout (deprecated here: a warning).
            **{k: v for k, v in _socket_options(self.settings).items() if k != "retry_on_timeout"},
        )

    async def ping_all(self) -> None:
        """PING every primary, together; raises the first failure (readiness)."""
        await asyncio.gather(*(node.execute_command("PING") for node in self.primaries()))

    async def now_ms(self, near: str = "{hs:sched}") -> int:
        """Redis TIME in ms, from the server holding `near`: scripts on that slot compare
        times with this one clock (on a cluster, each master has its own)."""
        seconds, micros = await self.node_of(near).execute_command("TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    async def ensure_groups(self) -> None:
        """Create each ready stream's consumer group; an existing group is fine.

        Looked up first: Redis refuses XGROUP CREATE while it is out of memory, even for a
        group that exists, and a role must start then (the ingress to answer 503, a worker
        to drain once memory frees) instead of exiting.
        """
        await asyncio.gather(*(self._ensure_group(p) for p in self.partitions))

    async def _ensure_group(self, partition: PartitionKeys) -> None:
        if await self._has_group(partition.ready):
            return
        try:
            await self.redis.xgroup_create(partition.ready, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _has_group(self, stream: str) -> bool:
        try:
            groups = await self.redis.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            return False
        return any(group["name"] == GROUP.encode() for group in groups)

    async def close(self) -> None:
        await self.redis.aclose()


def scan_keys(redis: Client, pattern: str, near: str) -> AsyncIterator[bytes]:
    """SCAN for `pattern`, whose keys all carry the hash tag of key `near`: on a cluster only
    the node holding that slot is asked (and scans only that slot), not every primary."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(near)
        return redis.scan_iter(match=pattern, count=1000, target_nodes=node)
    return redis.scan_iter(match=pattern, count=1000)


def _on_node(client: RedisCluster, node: ClusterNode) -> Callable[..., Awaitable[Any]]:
    async def run(*args: EncodableT) -> Any:
        return await client.execute_command(*args, target_nodes=node)

    return run
