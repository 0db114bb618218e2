"""`/console`: the console's static assets, read from the package once, with strict headers.

The assets are public (no token): they hold no data. Every data call they make goes to /v2
with the token the user signed in with, so the server, not the page, decides what a token may
see and do. The Content-Security-Policy allows scripts, styles, images and requests from this
origin only, no inline code or styles, no eval, and (Trusted Types) no HTML parsed from
strings: the pages build their DOM with textContent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from aiohttp import web

PREFIX = "/console/"
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


ASSETS = web.AppKey[dict[str, Asset]]("console_assets")


def load_assets(root: Traversable | None = None) -> dict[str, Asset]:
    """Every asset under `static/` by its path below it ("pages/dlq.js")."""
    found: dict[str, Asset] = {}
    pending = [("", root or files(__package__) / "static")]
    while pending:
        prefix, folder = pending.pop()
        for item in folder.iterdir():
            if item.is_dir():
                pending.append((f"{prefix}{item.name}/", item))
                continue
            suffix = item.name[item.name.rfind(".") :]
            if suffix in CONTENT_TYPES:
                body = item.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                found[prefix + item.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    return found


async def redirect(_: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect(PREFIX)


async def asset(request: web.Request) -> web.Response:
    """One asset, `index.html` for the folder itself; 404 for anything not in the package."""
    name = request.match_info.get("path") or "index.html"
    found = request.app[ASSETS].get(name)
    if found is None:
        raise web.HTTPNotFound()
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers={**SECURITY_HEADERS, "ETag": found.etag})
    headers = {**SECURITY_HEADERS, "ETag": found.etag}
    return web.Response(
        body=found.body, content_type=found.content_type, charset="utf-8", headers=headers
    )


def add_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets()
    app.router.add_get("/console", redirect)
    app.router.add_get(PREFIX, asset)
    app.router.add_get(PREFIX + "{path:.+}", asset)
