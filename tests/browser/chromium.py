"""The Python end of driver.mjs: one headless Chromium for a test module, driven by
Playwright (npm playwright-core) in a Node process, one JSON line per call.

Every call is awaited with a bound, so a stuck page fails the test instead of hanging it,
and the Node process (started here, so stopped here by its pid) never outlives the module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CALL_TIMEOUT_S = 30
Loc = dict[str, Any]


def role(kind: str, name: str | None = None) -> Loc:
    """An element by its ARIA role and accessible name (exact)."""
    return {"role": kind, "name": name} if name is not None else {"role": kind}


def label(text: str) -> Loc:
    """A form control by its label (exact)."""
    return {"label": text}


def css(selector: str, has_text: str | None = None) -> Loc:
    return {"css": selector, "hasText": has_text} if has_text else {"css": selector}


def text(value: str) -> Loc:
    return {"text": value}


def inside(outer: Loc, inner: Loc) -> Loc:
    """`inner`, searched within `outer`."""
    return {**outer, "inner": inner}


class BrowserError(AssertionError):
    """A call the page could not do (no such element, timeout): a test failure."""


class Browser:
    """One Chromium (one persistent profile) and its current tab."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = itertools.count(1)

    @classmethod
    async def launch(cls, node: str, chromium: str, profile: Path, log: Path) -> Browser:
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                node, str(HERE / "driver.mjs"), chromium, str(profile),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=stderr, cwd=HERE,
            )  # fmt: skip
        return cls(process)

    async def call(self, op: str, **args: Any) -> Any:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        request = {"id": next(self._ids), "op": op, **args}
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), CALL_TIMEOUT_S)
        if not line:
            raise BrowserError(f"the browser driver exited during {op} (see its log)")
        answer = json.loads(line)
        assert answer["id"] == request["id"], (answer, request)
        if not answer["ok"]:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["value"]

    async def close(self) -> None:
        """Ask the driver to close Chromium; kill it (by its pid) if it does not."""
        if self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.write(b'{"op": "close"}\n')
            await self._process.stdin.drain()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    # The calls the tests use, by name.
    async def open(self, url: str) -> dict[str, str]:
        """A fresh tab on `url`; the response headers of the page (names in lower case)."""
        return dict(await self.call("open", url=url))

    async def click(self, loc: Loc) -> None:
        await self.call("click", loc=loc)

    async def fill(self, loc: Loc, value: str) -> None:
        await self.call("fill", loc=loc, value=value)

    async def check(self, loc: Loc) -> None:
        await self.call("check", loc=loc)

    async def select(self, loc: Loc, value: str) -> None:
        await self.call("select", loc=loc, value=value)

    async def press(self, key: str, loc: Loc | None = None) -> None:
        await self.call("press", key=key, loc=loc)

    async def text(self, loc: Loc) -> str:
        return str(await self.call("text", loc=loc))

    async def texts(self, loc: Loc) -> list[str]:
        return list(await self.call("texts", loc=loc))

    async def count(self, loc: Loc) -> int:
        return int(await self.call("count", loc=loc))

    async def enabled(self, loc: Loc) -> bool:
        return bool(await self.call("enabled", loc=loc))

    async def wait(self, loc: Loc, contains: str | None = None, timeout_ms: int = 10_000) -> None:
        """Until `loc` is visible (and contains `contains`), within the timeout."""
        await self.call("wait", loc=loc, text=contains, timeout=timeout_ms)

    async def wait_gone(self, loc: Loc, timeout_ms: int = 10_000) -> None:
        await self.call("wait", loc=loc, state="detached", timeout=timeout_ms)

    async def evaluate(self, expression: str) -> Any:
        return await self.call("evaluate", expression=expression)

    async def focused(self) -> dict[str, str | None]:
        return dict(await self.call("focused"))

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.call("screenshot", path=str(path))

    async def seen(self) -> dict[str, list[str]]:
        """What the current tab logged as errors, threw, and asked of other origins."""
        return dict(await self.call("seen"))
