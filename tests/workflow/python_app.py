"""The Python workflow app (app_py.py on the pinned `upstash-workflow`) in a subprocess,
and how a test starts its runs: shared by test_workflow_python.py and the console's browser
test of the Workflows page."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from qstash import AsyncQStash

from broker.redis_server import free_port
from tests.support.api import eventually
from tests.support.hookstream import TEST_TOKEN, Hookstream
from tests.support.sink import Sink
from tests.workflow.conftest import HERE, RUN_TIMEOUT, App, app_env


@dataclass
class PyApp(App):
    """The running Python workflow app: App's `stats`, but runs start with the qstash
    client instead of the JS SDK's Client (app_py.py answers the same /stats)."""

    client: AsyncQStash

    async def trigger(self, path: str, body: Any = None, **headers: str) -> str:  # type: ignore[override]
        """Publish to the endpoint through hookstream (the SDK then starts the run, as its
        docs say); the run id the SDK gave that run."""
        test_id = uuid.uuid4().hex
        await self.client.message.publish_json(
            url=self.url + path, body=body or {}, headers={"X-Test-Id": test_id, **headers}
        )
        found: dict[str, Any] = {}

        async def started() -> bool:
            found.update(await self._get("/run", test=test_id))
            return bool(found.get("runId"))

        try:
            await eventually(started, RUN_TIMEOUT)
        except AssertionError:
            raise AssertionError(f"the app never started a run for {path}") from None
        run_id: str = found["runId"]
        return run_id


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


@asynccontextmanager
async def python_app(hookstream: Hookstream, mock_api: Sink) -> AsyncIterator[PyApp]:
    """app_py.py listening on a free port, pointed at `hookstream` and `mock_api`."""
    port = free_port()
    env = await app_env(hookstream, mock_api, port)
    process = await asyncio.create_subprocess_exec(sys.executable, str(HERE / "app_py.py"), env=env)
    url = f"http://127.0.0.1:{port}"
    try:

        async def ready() -> bool:
            assert process.returncode is None, "app_py.py exited (is the dev extra installed?)"
            return await _answers(f"{url}/run?test=none")

        await eventually(ready, 30)
        client = AsyncQStash(TEST_TOKEN, base_url=hookstream.url)
        try:
            yield PyApp(url, env, client)
        finally:
            await client.http._client.aclose()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
