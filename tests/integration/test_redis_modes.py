"""What only a cluster or Sentinel shows: routing, balance, waiting for connections, the
recorded layout, readiness of every primary, and a master failover under Sentinel.

The core API cases run on the cluster too (the `cluster` mark, tests/conftest.py), each with
zero routing errors counted by the masters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from redis.asyncio import RedisCluster
from redis.cluster import RedisCluster as SyncCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, MovedError
from redis.exceptions import TimeoutError as RedisTimeout

from broker.errors import ConfigError
from broker.queue.connection import BoundedCluster, Connection
from broker.queue.keys import LAYOUT, PartitionKeys, partition_keys
from broker.queue.scripts import PROMOTE
from broker.settings import Settings
from tests.support.api import eventually, until
from tests.support.cluster import LocalCluster, LocalSentinel, Server, started, wait_until
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

pytestmark = pytest.mark.integration


@pytest.fixture(name="cluster")
def _cluster(redis_cluster: LocalCluster) -> Iterator[LocalCluster]:
    redis_cluster.flush()
    yield redis_cluster
    assert redis_cluster.routing_errors() == {}
    assert redis_cluster.calls("command|getkeys") == 0


async def test_reads_cost_no_extra_round_trip(cluster: LocalCluster) -> None:
    """redis-py's own cluster routing asks a server for XREADGROUP's keys (COMMAND GETKEYS)
    before each read; hookstream's finds the same slot itself."""
    plain = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    conn = await Connection.connect(Settings(partitions=6), cluster.url)
    try:
        await conn.ensure_groups()
        stream = conn.partitions[0].ready
        await conn.redis.xreadgroup("workers", "c", {stream: ">"}, count=1)
        assert cluster.calls("command|getkeys") == 0
        await plain.initialize()
        args = ("GROUP", "workers", "c", "COUNT", 1, "STREAMS", stream, ">")
        slot = await plain._determine_slot("XREADGROUP", *args)  # redis-py's own routing
        assert slot == await conn.redis._determine_slot("XREADGROUP", *args)
        assert cluster.calls("command|getkeys") == 1
        for node in cluster.nodes:
            node.run("config_resetstat")
    finally:
        await plain.aclose()
        await conn.close()


def test_the_routing_error_count_sees_a_misrouted_command(cluster: LocalCluster) -> None:
    """Negative control for the zero-errors checks: a single-node client asking node 0 for
    a key of another node is answered MOVED, and the count shows it."""
    directory = SyncCluster(host="127.0.0.1", port=cluster.nodes[0].port)
    far = next(
        key
        for key in (partition_keys(p, 6).ready for p in range(6))
        if directory.get_node_from_key(key).port != cluster.nodes[0].port
    )
    directory.close()
    with pytest.raises(MovedError):
        cluster.nodes[0].run("get", far)
    assert list(cluster.routing_errors()) == [f"{cluster.nodes[0].port}:MOVED"]
    cluster.nodes[0].run("config_resetstat")


async def test_auto_mode_finds_the_cluster_and_partitions_spread_evenly(
    cluster: LocalCluster,
) -> None:
    """REDIS_URL names one node; the client finds the cluster, and 6 partitions put exactly
    2 ready streams on each of the 3 masters."""
    server = await Hookstream(cluster.url, partitions=6).start()
    try:
        assert server.conn.mode == "cluster"
        assert isinstance(server.conn.redis, RedisCluster)
        per_node = [len(node.run("keys", "*:ready")) for node in cluster.nodes]
        assert per_node == [2, 2, 2]
    finally:
        await server.stop()


async def test_bursts_wait_for_a_connection_on_a_cluster(cluster: LocalCluster) -> None:
    """300 concurrent commands through a 4-connection node pool all succeed; redis-py's own
    cluster client (negative control) fails them with MaxConnectionsError."""
    host, port = "127.0.0.1", cluster.nodes[0].port
    bounded = BoundedCluster(permits=4, host=host, port=port, max_connections=4)
    plain = RedisCluster(host=host, port=port, max_connections=4)
    try:
        await bounded.initialize()  # the slot map, as Connection.connect learns it
        await plain.initialize()
        key = "{hs:burst}:n"
        replies = await asyncio.gather(*(bounded.incr(key) for _ in range(300)))
        assert sorted(replies) == list(range(1, 301))
        failed = await asyncio.gather(
            *(plain.incr(key) for _ in range(300)), return_exceptions=True
        )
        assert any(isinstance(reply, MaxConnectionsError) for reply in failed)
    finally:
        await bounded.aclose()
        await plain.aclose()


async def test_no_client_retries_a_command(cluster: LocalCluster, redis_url: str) -> None:
    """Every mode's client is built with zero retries: a reply lost after a script ran must
    never send the script again."""
    settings = Settings(partitions=2)
    for conn in (
        Connection.open(settings, cluster.url, "cluster"),
        Connection.open(settings, redis_url, "standalone"),
    ):
        try:
            if isinstance(conn.redis, RedisCluster):
                assert conn.redis.retry.get_retries() == 0
            else:
                pool = conn.redis.connection_pool
                assert pool.connection_kwargs["retry"].get_retries() == 0
                assert pool.connection_kwargs["socket_timeout"] == 10.0
        finally:
            await conn.close()


async def test_readiness_pings_every_primary(cluster: LocalCluster) -> None:
    """A master that stops answering makes /readyz 503 though the node REDIS_URL names
    still answers."""
    server = await Hookstream(cluster.url, redis_timeout_ms=2000).start()
    try:
        assert server.http is not None
        async with server.http.get("/readyz") as resp:
            assert resp.status == 200
        with cluster.nodes[2].paused(seconds=20):
            async with server.http.get("/readyz") as resp:  # answers within 2.5 s
                assert resp.status == 503
            with pytest.raises(RedisTimeout):
                await server.conn.ping_all()
    finally:
        await server.stop()


async def test_one_nodes_failure_fails_only_its_callers(cluster: LocalCluster) -> None:
    """Script calls of one event-loop turn on 6 partitions (2 per master) while one master
    is paused: its 2 callers fail, the other 4 get their replies."""
    conn = await Connection.connect(Settings(partitions=6, redis_timeout_ms=2000), cluster.url)
    paused = cluster.nodes[2]
    try:
        assert isinstance(conn.redis, RedisCluster)
        on_paused = [
            conn.redis.get_node_from_key(p.ready).port == paused.port for p in conn.partitions
        ]
        assert on_paused.count(True) == 2
        with paused.paused(seconds=20):
            replies = await asyncio.gather(
                *(conn.scripts.call(PROMOTE, p, {}, {"limit": 1}) for p in conn.partitions),
                return_exceptions=True,
            )
        # The first read times out; the connection is then dropped under the second.
        failed = [isinstance(r, RedisTimeout | RedisConnectionError) for r in replies]
        assert failed == on_paused, replies
        assert all(r == [0, -1] for r, out in zip(replies, on_paused, strict=True) if not out)
    finally:
        await conn.close()


async def _promote_all(conn: Connection) -> list[object]:
    """One promote call per partition, all in one event-loop turn (one batch)."""
    calls = (conn.scripts.call(PROMOTE, p, {}, {"limit": 1}) for p in conn.partitions)
    return list(await asyncio.gather(*calls))


async def test_emptied_script_caches_are_reloaded_on_every_master(cluster: LocalCluster) -> None:
    """SCRIPT FLUSH on every master (a restart, a failover): the next calls on all of them
    succeed; each master answered NOSCRIPT once per script call it refused, no more."""
    conn = await Connection.connect(Settings(partitions=6), cluster.url)
    try:
        for node in cluster.nodes:
            node.run("script_flush")
        assert await _promote_all(conn) == [[0, -1]] * 6
        refused = cluster.routing_errors()
        assert refused == {f"{node.port}:NOSCRIPT": 2 for node in cluster.nodes}
        for node in cluster.nodes:
            node.run("config_resetstat")
        await asyncio.gather(
            *(conn.scripts.call(PROMOTE, p, {}, {"limit": 1}) for p in conn.partitions)
        )
    finally:
        await conn.close()


@pytest.mark.cluster
async def test_a_role_with_another_partition_count_refuses_to_start(redis_url: str) -> None:
    """The first start records P; a role with another P stops with a clear message, and one
    with the same P starts."""
    first = await Hookstream(redis_url, partitions=2).start()
    await first.stop()
    with pytest.raises(ConfigError, match=r"holds 2 partitions .* HOOKSTREAM_PARTITIONS is 3"):
        await Hookstream(redis_url, partitions=3).start()
    again = await Hookstream(redis_url, partitions=2).start()
    await again.stop()


@pytest.mark.cluster
async def test_a_layout_record_being_written_is_completed_not_refused(redis_url: str) -> None:
    """Two roles starting at once: one has written the record's first field only when the
    other reads it. The second completes it and starts; a different P is still refused."""
    conn = await Connection.connect(Settings(partitions=2), redis_url)
    try:
        await conn.redis.hset(LAYOUT, "partitions", "2")  # the first role's first HSETNX
    finally:
        await conn.close()
    started = await Hookstream(redis_url, partitions=2).start()
    await started.stop()
    with pytest.raises(ConfigError, match=r"holds 2 partitions .* HOOKSTREAM_PARTITIONS is 3"):
        await Hookstream(redis_url, partitions=3).start()


@pytest.mark.cluster
async def test_data_of_the_first_layout_is_refused(redis_url: str) -> None:
    """A Redis holding `{hs:N}` streams and no layout record: drain it first, says the error."""
    conn = await Connection.connect(Settings(partitions=2), redis_url)
    try:
        await conn.redis.xadd(PartitionKeys(1).ready, {"id": "msg_1_01HZZZZZZZZZZZZZZZZZZZZZZZ"})
    finally:
        await conn.close()
    with pytest.raises(ConfigError, match="Drain it with the previous release"):
        await Hookstream(redis_url, partitions=2).start()


async def test_cluster_failover_loses_nothing_acknowledged(sink: Sink) -> None:
    """Six nodes (a replica per master): while publishes flow, a replica takes over its
    master with CLUSTER FAILOVER (coordinated: the master pauses writers until its replica
    has caught up). The client follows the MOVED replies, and every acknowledged publish
    arrives: a manual failover loses nothing."""
    with started(lambda f: LocalCluster(f, replicas=1), "hookstream-test-cluster6-") as cluster:
        server = await Hookstream(cluster.url, partitions=6).start()
        try:
            publisher = _Publisher(server, sink)
            flowing = asyncio.create_task(publisher.run())
            await publisher.wait_acked(20)
            replica = next(node for node in cluster.nodes if cluster.role(node) == "slave")
            await _fail_over(cluster, replica)
            await publisher.wait_acked(len(publisher.acked) + 20, timeout=30)
            publisher.stop()
            await flowing
            await _all_arrive(sink, publisher.acked)
            print(f"cluster failover: {len(publisher.acked)} acked, all arrived, "
                  f"{publisher.refused} refused while failing over")  # fmt: skip
        finally:
            await server.stop()


# -- Sentinel ----------------------------------------------------------------------------


@pytest.fixture(name="sentinel")
def _sentinel() -> Iterator[LocalSentinel]:
    with started(LocalSentinel, "hookstream-test-sentinel-") as setup:
        yield setup


@pytest.fixture(name="on_sentinel")
async def _on_sentinel(sentinel: LocalSentinel) -> AsyncIterator[Hookstream]:
    server = Hookstream(
        "",
        redis_mode="sentinel",
        redis_sentinels=(("127.0.0.1", int(sentinel.sentinels.split(":")[1])),),
        redis_master_name=sentinel.name,
    )
    await server.start()
    yield server
    await server.stop()


async def test_sentinel_failover_keeps_what_was_acknowledged(
    sentinel: LocalSentinel, on_sentinel: Hookstream, sink: Sink
) -> None:
    """Publishes flow while the sentinel fails the master over to the replica. Every publish
    acknowledged before the failover started (and replicated, checked with WAIT) or after the
    old master became a replica arrives. Replication is asynchronous: publishes acknowledged
    by the old master in between may be lost; the test reports how many were."""
    assert sentinel.master is not None
    assert sentinel.replica is not None
    publisher = _Publisher(on_sentinel, sink)
    flowing = asyncio.create_task(publisher.run())
    await publisher.wait_acked(20)
    before = len(publisher.acked)
    with sentinel.master.client() as master:
        master.set("marker", "1")
        assert master.execute_command("WAIT", 1, 2000) == 1  # all so far is on the replica
    assert sentinel.sentinel is not None
    sentinel.sentinel.run("execute_command", "SENTINEL", "FAILOVER", sentinel.name)
    new_port, old = sentinel.replica.port, sentinel.master
    wait_until(
        lambda: (
            sentinel.current_master_port() == new_port
            and old.run("info", "replication")["role"] == "slave"
        ),
        20,
        "the sentinel did not fail over to the replica",
    )
    during = len(publisher.acked)
    await publisher.wait_acked(during + 20, timeout=30)
    publisher.stop()
    await flowing
    safe = publisher.acked[:before] + publisher.acked[during:]
    await _all_arrive(sink, safe)
    lost = set(publisher.acked) - _arrived(sink)
    print(f"sentinel failover: {len(publisher.acked)} acked, {during - before} in the window, "
          f"{len(lost)} lost, {publisher.refused} refused while failing over")  # fmt: skip
    assert lost <= set(publisher.acked[before:during])


async def _fail_over(cluster: LocalCluster, replica: Server) -> None:
    """CLUSTER FAILOVER on `replica` until it is a master, the event loop running meanwhile
    (publishes keep flowing). A coordinated failover gives up after the server's 5 s
    manual-failover timeout when the replica has not caught up with its paused master by
    then, as on a loaded machine (it failed a CI run so); asking again is what an operator
    would do."""
    for _ in range(3):
        replica.run("execute_command", "CLUSTER", "FAILOVER")
        try:
            await until(lambda: cluster.role(replica) == "master", 7, "the failover")
            return
        except AssertionError:
            continue
    raise AssertionError("no failover after three CLUSTER FAILOVER")


class _Publisher:
    """Publishes one message after another, remembering the acknowledged ids."""

    def __init__(self, server: Hookstream, sink: Sink) -> None:
        self.server, self.sink = server, sink
        self.acked: list[str] = []
        self.refused = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        assert self.server.http is not None
        while not self._stopping.is_set():
            try:
                async with self.server.http.post(
                    f"/v2/publish/{self.sink.url('/flow')}", data=b"x"
                ) as resp:
                    if resp.status in (200, 201):
                        self.acked.append((await resp.json())["messageId"])
                    else:
                        self.refused += 1
            except aiohttp.ClientError:
                self.refused += 1
            await asyncio.sleep(0.01)

    async def wait_acked(self, count: int, timeout: float = 10.0) -> None:
        async def enough() -> bool:
            return len(self.acked) >= count

        await eventually(enough, timeout)

    def stop(self) -> None:
        self._stopping.set()


def _arrived(sink: Sink) -> set[str]:
    return {r.headers["Upstash-Message-Id"] for r in sink.received}


async def _all_arrive(sink: Sink, ids: list[str], timeout: float = 30.0) -> None:
    async def arrived() -> bool:
        return set(ids) <= _arrived(sink)

    try:
        await eventually(arrived, timeout)
    except AssertionError:
        missing = set(ids) - _arrived(sink)
        raise AssertionError(f"{len(missing)} acknowledged messages never arrived") from None
