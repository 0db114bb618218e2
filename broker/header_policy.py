"""The header policy: which headers a message may carry to its destination (docs/security.md).

One policy serves both tiers, like the destination policy. The ingress refuses, with a 400
naming the header, every forwarded header (`Upstash-Forward-*`, a batch item's, the callbacks'
`-Forward-*`) that the policy never sends, and batch item headers holding CR, LF or NUL, which
JSON can carry and a header line cannot (URLs: broker/queue/destinations.py). The worker
(workers/delivery.py) skips the same names and values, so a message stored before the ingress
refused them cannot smuggle them out.

Never forwarded:
- hop-by-hop and framing headers, which belong to the worker's own connection: a forwarded
  `Content-Length: 3` would cut the body short and leave the rest on the wire as the start of
  a next request, and `Transfer-Encoding` beside the real Content-Length makes the two ends
  disagree on where the request stops;
- the `Upstash-*` headers the worker sets on every delivery, which a receiver trusts as ours;
- names that are not RFC 9110 tokens (`X-A: 1` would write a header line of its own).
"""

from __future__ import annotations

import re
from functools import lru_cache

from broker.errors import BadRequest

FRAMING = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "expect",
    }
)
FRAMING_PREFIX = "proxy-"  # Proxy-Authorization, Proxy-Connection, ...

# Every Upstash-* header the worker sets on a delivery (tests/unit/test_header_policy.py
# holds workers/delivery.py to this list). Other Upstash-* names, such as the workflow SDK's
# `Upstash-Workflow-Sdk-Version`, are forwarded like any header.
DELIVERY = frozenset(
    {
        "upstash-message-id",
        "upstash-retried",
        "upstash-signature",
        "upstash-caller-ip",
        "upstash-schedule-id",
        "upstash-topic-name",
    }
)

# RFC 9110 5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What would end a header line (or a request line) early.
_LINE_BREAKERS = re.compile(r"[\r\n\x00]")


@lru_cache(maxsize=1024)
def name_refusal(name: str) -> str | None:
    """Why a header of this name is never forwarded, or None when it may be."""
    if not _TOKEN.fullmatch(name):
        return "is not a valid header name"
    lowered = name.lower()
    if lowered in FRAMING or lowered.startswith(FRAMING_PREFIX):
        return "is a hop-by-hop or framing header, which the delivery's connection owns"
    if lowered in DELIVERY:
        return "is set by hookstream on every delivery"
    return None


def breaks_lines(text: str) -> bool:
    """True when `text` holds CR, LF or NUL, which no header or URL may carry."""
    return _LINE_BREAKERS.search(text) is not None


def check_forwarded(name: str, values: list[str], what: str) -> None:
    """BadRequest naming `what` (the header as the client sent it) unless it may be forwarded."""
    refusal = name_refusal(name)
    if refusal is not None:
        raise BadRequest(f"{what}: {name!r} {refusal}; it cannot be forwarded")
    for value in values:
        if breaks_lines(value):
            raise BadRequest(f"{what}: the value contains CR, LF or NUL")


def check_line_safe(name: str, value: str) -> None:
    """BadRequest unless a header given as text (a batch item's) keeps to one line."""
    if breaks_lines(name):
        raise BadRequest(f"header {name!r}: the name contains CR, LF or NUL")
    if breaks_lines(value):
        raise BadRequest(f"header {name}: the value contains CR, LF or NUL")
