"""One HTTP attempt: build the request from the envelope, send it, capture the answer.

`send` never raises for what the destination does (errors, timeouts, refusals): those are a
Response with status 0 and an `error`, so the caller always gets a value to decide on.
"""

from __future__ import annotations

import asyncio
import functools

import aiohttp
from multidict import istr
from yarl import URL

from broker.header_policy import breaks_lines, name_refusal
from broker.queue.model import Envelope, Response
from workers.egress import refusal_reason
from workers.outcome import REFUSED_PREFIX, TIMEOUT_ERROR
from workers.signing import sign

USER_AGENT = "Upstash-QStash"
# Our header names as istr: a case-insensitive dict folds a plain str's case at every use (four
# times on the way through aiohttp), an istr's once; ~6,000 instructions a delivery.
_USER_AGENT, _MESSAGE_ID = istr("User-Agent"), istr("Upstash-Message-Id")
_RETRIED, _SIGNATURE = istr("Upstash-Retried"), istr("Upstash-Signature")
_CALLER_IP, _SCHEDULE_ID = istr("Upstash-Caller-Ip"), istr("Upstash-Schedule-Id")
_TOPIC_NAME = istr("Upstash-Topic-Name")
# Stored response bodies (DLQ, callbacks) are cut here; the rest is left unread.
RESPONSE_BODY_CAP = 64 * 1024


def request_headers(
    envelope: Envelope, body: bytes, attempts: int, signing_key: str
) -> list[tuple[str, str]]:
    """Forwarded headers plus the Upstash-* headers of a delivery, as the (name, value) pairs
    aiohttp copies into its request's own multidict (a CIMultiDict built here was copied
    a second time).

    Forwarded names the header policy never sends (framing, hop-by-hop, our own delivery
    headers) and values with a line break are skipped: the ingress refuses them, but a
    message stored before it did must not smuggle them out either. A forwarded User-Agent
    gives way to ours."""
    headers: list[tuple[str, str]] = []
    for name, values in envelope.headers.items():  # loops: a comprehension is a call more
        if not _forwarded_as_is(name):
            continue
        for value in values:
            if not breaks_lines(value):
                headers.append((name, value))
    headers += (
        (_USER_AGENT, USER_AGENT),
        (_MESSAGE_ID, envelope.id),
        (_RETRIED, str(attempts - 1)),
        (_SIGNATURE, sign(envelope.url, body, signing_key)),
    )
    if envelope.caller_ip:
        headers.append((_CALLER_IP, envelope.caller_ip))
    if envelope.schedule_id:
        headers.append((_SCHEDULE_ID, envelope.schedule_id))
    if envelope.topic_name:
        headers.append((_TOPIC_NAME, envelope.topic_name))
    return headers


@functools.lru_cache(maxsize=1024)
def _forwarded_as_is(name: str) -> bool:
    return name_refusal(name) is None and name.lower() != "user-agent"


async def send(
    session: aiohttp.ClientSession,
    envelope: Envelope,
    body: bytes,
    attempts: int,
    signing_key: str,
) -> Response:
    """Deliver once. Redirects are not followed: a 3xx is a failed attempt, as in QStash."""
    if breaks_lines(envelope.url):  # stored before the ingress refused such URLs
        return Response(error=f"{REFUSED_PREFIX}the URL contains CR, LF or NUL")
    headers = request_headers(envelope, body, attempts, signing_key)
    timeout = _timeout(envelope.timeout_ms)
    try:
        async with session.request(
            envelope.method,
            _url(envelope.url),
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=timeout,
        ) as answer:
            content = await _read_capped(answer.content, RESPONSE_BODY_CAP)
            # A 2xx is settled from its status alone, unless a callback or a workflow
            # trigger's endpoint check (workers/workflow.py) reads its headers: collecting
            # them for nothing would cost the hottest path.
            reads = envelope.callback is not None or envelope.workflow_detect_trigger
            kept = reads or not 200 <= answer.status < 300
            answered = _header_map(answer) if kept else {}
            return Response(status=answer.status, headers=answered, body=content)
    except TimeoutError:
        return Response(error=TIMEOUT_ERROR)
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        refused = refusal_reason(exc)
        if refused is not None:
            return Response(error=f"{REFUSED_PREFIX}{refused}"[:500])
        return Response(error=f"{type(exc).__name__}: {exc}"[:500])


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> URL:
    """The destination as sent (already encoded at publish), parsed once per destination:
    yarl's URLs are immutable, and most deliveries go to a few destinations."""
    return URL(url, encoded=True)


@functools.lru_cache(maxsize=64)
def _timeout(timeout_ms: int) -> aiohttp.ClientTimeout:
    """One (immutable) timeout object per distinct delivery timeout."""
    return aiohttp.ClientTimeout(total=timeout_ms / 1000)


async def _read_capped(stream: aiohttp.StreamReader, cap: int) -> bytes:
    """Up to `cap` bytes of the answer: one read() returns only what has arrived so far."""
    first = await stream.read(cap)
    if not first or stream.at_eof():  # a small answer arrives whole: no read to find its end
        return first
    chunks, left = [first], cap - len(first)
    while left > 0:
        chunk = await stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _header_map(answer: aiohttp.ClientResponse) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in answer.headers.items():
        grouped.setdefault(name, []).append(value)
    return grouped
