"""The workflow app (tests/workflow/app.mjs on the pinned @upstash/workflow), its mock
third-party API, and the wait on a run's state, shared by the workflow test modules."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from broker.redis_server import free_port
from tests.conftest import IN_CI, require_tool
from tests.support.api import api, by_path, eventually, status
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink

HERE = Path(__file__).resolve().parent
RUN_TIMEOUT = 60.0


@dataclass
class App:
    """The running workflow app and how to reach it."""

    url: str
    env: dict[str, str]

    async def node(self, request: dict[str, Any]) -> Any:
        """Run trigger.mjs with one request; its JSON answer."""
        process = await asyncio.create_subprocess_exec(
            "node", str(HERE / "trigger.mjs"), json.dumps(request),
            cwd=HERE, env=self.env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        answer = json.loads(out)
        assert process.returncode == 0, answer
        return answer

    async def trigger(self, path: str, **options: Any) -> str:
        answer = await self.node({"op": "trigger", "options": {"url": self.url + path, **options}})
        run_id: str = answer["workflowRunId"]
        return run_id

    async def stats(self, run_id: str) -> dict[str, Any]:
        return await self._get("/stats", runId=run_id)

    async def _get(self, path: str, **params: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path, params=params) as answer,
        ):
            found: dict[str, Any] = await answer.json()
            return found


@pytest.fixture(name="hookstream")
async def _hookstream(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Hookstream]:
    """The suite's in-process hookstream; a test may change its settings (indirect param)."""
    server = await Hookstream(redis_url, **getattr(request, "param", {})).start()
    yield server
    await server.stop()


@pytest.fixture(name="mock_api")
async def _mock_api() -> AsyncIterator[Sink]:
    """The third-party API: /ok answers JSON with a header, /fails always 500."""
    api_sink = await Sink().start()
    ok = status(200, '{"answer":"fine"}', {"X-Mock": "m1", "Content-Type": "application/json"})
    api_sink.respond = by_path({"/ok": ok, "/fails": status(500, "nope")})
    yield api_sink
    await api_sink.stop()


async def app_env(
    hookstream: Hookstream, mock_api: Sink, port: int, token: str = TEST_TOKEN
) -> dict[str, str]:
    """The environment of a workflow app (JS or Python): where it listens, the four values
    that point its SDK at hookstream, and the mock API."""
    _, keys = await api(hookstream, "GET", "/v2/keys")
    return os.environ | {
        "PORT": str(port),
        "QSTASH_URL": hookstream.url,
        "QSTASH_TOKEN": token,
        "QSTASH_CURRENT_SIGNING_KEY": keys["current"],
        "QSTASH_NEXT_SIGNING_KEY": keys["next"],
        "MOCK_URL": mock_api.url(""),
    }


@pytest.fixture(name="app_token")
def _app_token() -> str:
    """The token the app and trigger.mjs use; a module may override it."""
    return TEST_TOKEN


@pytest.fixture(name="app")
async def _app(hookstream: Hookstream, mock_api: Sink, app_token: str) -> AsyncIterator[App]:
    require_tool("node", "the Workflow tests run an app on @upstash/workflow")
    if not (HERE / "node_modules/@upstash/workflow").exists():
        message = "tests/workflow/node_modules is missing: run `make test` (npm ci)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    env = await app_env(hookstream, mock_api, port, app_token)
    process = await asyncio.create_subprocess_exec(
        "node", str(HERE / "app.mjs"), cwd=HERE, env=env, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"ready", line
    yield App(f"http://127.0.0.1:{port}", env)
    process.terminate()
    await asyncio.wait_for(process.wait(), 10)


async def run_in(
    hookstream: Hookstream, run_id: str, state: str, timeout: float = RUN_TIMEOUT
) -> dict[str, Any]:
    """The run from the logs API once it is in `state` (bounded wait)."""
    found: dict[str, Any] = {}

    async def reached() -> bool:
        _, logs = await api(
            hookstream, "GET", "/v2/workflows/events",
            params={"groupBy": "workflowRunId", "workflowRunId": run_id},
        )  # fmt: skip
        found.update(logs["runs"][0] if logs["runs"] else {})
        return found.get("workflowState") == state

    try:
        await eventually(reached, timeout)
    except AssertionError:
        raise AssertionError(f"run {run_id} never reached {state}: {found}") from None
    return found
