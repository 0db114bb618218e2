"""Destinations in the path: the raw path after the route prefix plus the raw query string.

The SDKs put the destination URL raw into the path (`/v2/publish/https://e.com/a?x=1`), so its
own query string arrives as the API request's query string and percent-escapes must not be
decoded (qstash-api.md 2.1).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from broker.errors import BadRequest

# Query parameters meant for us, not for the destination (webhook senders pass the token so).
_OWN_PARAMETERS = ("qstash_token",)


def raw_destination(request: web.Request, prefix: str) -> str:
    """The destination as the client wrote it: raw path after `prefix`, plus raw query."""
    path, _, query = request.raw_path.partition("?")
    destination = path[len(prefix) :] if path.startswith(prefix) else ""
    if _holds_own(query):
        # Re-encoded only when we drop our own parameters; otherwise kept byte for byte.
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in pairs if k not in _OWN_PARAMETERS])
    if query:
        destination = f"{destination}?{query}"
    if not destination:
        raise BadRequest("missing destination")
    return destination


def _holds_own(query: str) -> bool:
    """Whether the query carries one of our parameters; parsed only when it may (most queries
    name none of them and hold no escape that could spell one)."""
    if "%" not in query and not any(name in query for name in _OWN_PARAMETERS):
        return False
    return any(key in _OWN_PARAMETERS for key, _ in parse_qsl(query, keep_blank_values=True))
