"""The console's assets and their headers, without a browser (tests/browser drives the
pages)."""

from __future__ import annotations

import aiohttp
import pytest

from broker.http.console.routes import load_assets
from tests.support.hookstream import Hookstream

pytestmark = pytest.mark.integration


async def _get(hookstream: Hookstream, path: str, **headers: str) -> aiohttp.ClientResponse:
    """A request without the token, as a browser loading the console makes it."""
    async with (
        aiohttp.ClientSession(hookstream.url) as session,
        session.get(path, headers=headers, allow_redirects=False) as resp,
    ):
        await resp.read()
        return resp


async def test_assets_are_public_with_a_strict_policy(hookstream: Hookstream) -> None:
    """Every asset loads without a token, with its type, the CSP and nosniff; the policy
    allows this origin only, no inline code or styles, no eval, no HTML from strings."""
    for name, asset in load_assets().items():
        resp = await _get(hookstream, f"/console/{name}")
        assert resp.status == 200, name
        assert resp.content_type == asset.content_type
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp = await _get(hookstream, "/console/")
    assert resp.content_type == "text/html"
    policy = dict(
        part.strip().split(" ", 1) for part in resp.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'", directive
    assert policy["frame-ancestors"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'"
    assert "unsafe" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_only_packaged_assets_are_served(hookstream: Hookstream) -> None:
    """/console redirects to the folder; anything but a packaged asset is a 404; an
    unchanged asset answers 304 to its ETag."""
    resp = await _get(hookstream, "/console")
    assert (resp.status, resp.headers["Location"]) == (308, "/console/")
    for path in ("/console/nope.js", "/console/%2e%2e/pyproject.toml", "/console/pages/"):
        assert (await _get(hookstream, path)).status == 404, path
    etag = (await _get(hookstream, "/console/app.js")).headers["ETag"]
    assert (await _get(hookstream, "/console/app.js", **{"If-None-Match": etag})).status == 304
