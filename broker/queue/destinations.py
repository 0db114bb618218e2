"""What a destination is: an http(s) URL, or the name of a URL group.

Shared by every path that names a URL (publish, enqueue, batch, schedules, callbacks, URL-group
endpoints), so the rule is written once.
"""

from __future__ import annotations

import re

from broker.egress import DestinationPolicy
from broker.errors import BadRequest


def is_url(destination: str) -> bool:
    """http(s) URLs are destinations; anything else names a URL group."""
    return destination.lower().startswith(("http://", "https://"))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\s]")


def validate_url(url: object, what: str, policy: DestinationPolicy | None) -> str:
    """An absolute http(s) URL with a host that `policy` allows, or BadRequest naming `what`.

    `policy` is None only for URLs that are never called (e.g. endpoints named for removal).
    """
    if not isinstance(url, str):
        raise BadRequest(f"invalid {what}: it must be a string")
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    if not sep or scheme.lower() not in ("http", "https") or not host or host.startswith(":"):
        raise BadRequest(f"invalid {what} {url!r}: it must be an absolute http(s) URL")
    if _UNSAFE.search(url):  # one scan on the hot path; the message then says which
        if _CONTROL.search(url):
            raise BadRequest(
                f"invalid {what} {url!r}: it contains a control character (CR, LF, NUL)"
            )
        raise BadRequest(f"invalid {what} {url!r}: it contains whitespace")
    if policy is not None:
        policy.check_url(url)
    return url


def url_destination(destination: str, policy: DestinationPolicy) -> str:
    """A URL destination, validated."""
    if not is_url(destination):
        raise BadRequest(f"invalid destination {destination!r}: it must be an http(s) URL")
    return validate_url(destination, "destination", policy)
