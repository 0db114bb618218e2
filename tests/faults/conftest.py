"""Fixtures of the fault tier: a Redis server per test (AOF on, killable), an observing
ingress in this process, a ledger, role processes and fault proxies. Every case's verdict is
written to tests/faults/artifacts/ at the end of the session (docs/reliability.md's table)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.hookstream import Hookstream
from tests.support.ledger import Ledger, Verdict
from tests.support.procs import PARTITIONS, Roles
from tests.support.redis_process import RedisProcess

ARTIFACTS = Path(__file__).parent / "artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_results() -> Iterator[list[Verdict]]:
    """Every verdict of the session, written as JSON and as a markdown table at its end."""
    verdicts: list[Verdict] = []
    yield verdicts
    if verdicts:
        write_results(verdicts)


def write_results(verdicts: list[Verdict]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = [v.row() for v in verdicts]
    (ARTIFACTS / "results.json").write_text(json.dumps({"run": stamp, "cases": rows}, indent=1))
    (ARTIFACTS / "results.md").write_text(results_table(stamp, rows))


def results_table(stamp: str, rows: list[dict[str, Any]]) -> str:
    """The markdown table docs/reliability.md shows (refresh it by pasting results.md)."""
    lines = [
        f"Run of {stamp} (tests/faults).",
        "",
        "| case | fault | acknowledged | delivered / DLQ / cancelled | 503 (stored anyway) | lost "
        "| duplicates (bound) | time |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: str(r["case"])):
        refused = row["notes"].get("refused", {}).get("503", 0)
        out = f"{row['delivered']} / {row['dead_lettered']} / {row['cancelled']}"
        lines.append(
            f"| `{row['case']}` | {row['fault']} | {row['acknowledged']} | {out} "
            f"| {refused} ({row['refused_but_stored']}) "
            f"| {len(row['lost'])} | {row['duplicates']} ({row['max_duplicates']}) "
            f"| {row['seconds']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def redis_config() -> dict[str, str]:
    """Server directives for this test's Redis; override in a test module or with
    `@pytest.mark.parametrize("redis_config", [...])`."""
    return {"fsync": "everysec"}


@pytest.fixture
def valkey(tmp_path: Path, redis_config: dict[str, str]) -> Iterator[RedisProcess]:
    """A Redis of this test alone, AOF on, that the test may kill and restart."""
    server = RedisProcess(tmp_path / "redis", **redis_config).start()
    yield server
    server.stop()


@pytest.fixture
async def ingress(valkey: RedisProcess) -> AsyncIterator[Hookstream]:
    """An observing ingress in this process, straight to Redis: publishes of the cases that
    do not fault the ingress, and the API reads of the ledger (DLQ, events)."""
    server = await Hookstream(valkey.url, with_worker=False, second_field_crons=True).start()
    yield server
    await server.stop()


@pytest.fixture
async def ledger(
    request: pytest.FixtureRequest, valkey: RedisProcess, fault_results: list[Verdict]
) -> AsyncIterator[Ledger]:
    book = Ledger(valkey.client(), PARTITIONS, request.node.name, fault_results.append)
    yield book
    await book.redis.aclose()


@pytest.fixture
def roles(tmp_path: Path) -> Iterator[Roles]:
    """Role processes (ingress, workers, scheduler); killed at the end of the test."""
    started = Roles(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
async def proxies(valkey: RedisProcess) -> AsyncIterator[Callable[[], Awaitable[FaultProxy]]]:
    """Make fault proxies in front of this test's Redis; each role may get its own."""
    made: list[FaultProxy] = []

    async def make() -> FaultProxy:
        proxy = await FaultProxy(valkey.port).start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        await proxy.stop()
