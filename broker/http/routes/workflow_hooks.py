"""`/v2/workflows/hooks/{userId}/{runId}/{eventId}`: the URL of a `context.createWebhook`,
called by third parties without an API token (broker/queue/workflow_hooks.py).

What the path must name: a user id that one of the full tokens carries (the SDK reads it
from the token: base64 JSON with `UserID`; hookstream has one tenant, so any of its
tokens' ids will do), a running run, and a webhook that run created. Anything else is a
404 that writes nothing. The request is bounded like any other (HOOKSTREAM_MAX_BODY_BYTES,
checked again after encoding, since the run stores the call base64-encoded), plus
MAX_HEADERS headers of MAX_HEADER_BYTES in all.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re

from aiohttp import web

from broker.errors import BadRequest, NotFound
from broker.http.context import connection
from broker.http.views import respond
from broker.queue import workflow_hooks
from broker.queue.names import check_name
from broker.queue.workflow_waits import check_event_id, notify_run

TEMPLATE = "/v2/workflows/hooks/{user_id}/{run_id}/{event_id}"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""What a webhook accepts (HEAD with GET); the SDK rebuilds the call as a `Request` of any
of them. OPTIONS is no webhook call: a browser's preflight must not resume a run."""
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
     "proxy-connection", "proxy-authorization", "host", "content-length"}
)  # fmt: skip
"""Headers about this hop, not the call: the host is passed on as `host`, and the SDK
counts the body itself."""
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


@functools.cache
def user_ids(tokens: tuple[str, ...]) -> frozenset[str]:
    """The `UserID`s the tokens carry: the SDK builds webhook URLs from its token's."""
    found = set()
    for token in tokens:
        try:
            user = json.loads(base64.b64decode(token, validate=True)).get("UserID")
        except (binascii.Error, ValueError, AttributeError):
            continue  # a token that is no base64 JSON object carries no user id
        if isinstance(user, str) and user:
            found.add(user)
    return frozenset(found)


async def call_webhook(request: web.Request) -> web.Response:
    """The call becomes the event of the run's `waitForWebhook` (now, or when it waits)."""
    conn = connection(request)
    user_id, run_id = request.match_info["user_id"], request.match_info["run_id"]
    event_id = request.match_info["event_id"]
    unknown = NotFound(f"no webhook {event_id[:64]!r} in a running workflow run {run_id[:64]!r}")
    if user_id not in user_ids(conn.settings.tokens):
        raise unknown
    check_name("workflow_run_id", run_id, "workflow run id")
    check_event_id(event_id)
    if not await workflow_hooks.created(conn, run_id, event_id):
        raise unknown
    data = workflow_hooks.encode_call(await _call_of(request))
    if len(data) > conn.settings.max_body_bytes:
        raise BadRequest(
            f"the webhook call is {len(data)} bytes encoded, above the maximum of "
            f"{conn.settings.max_body_bytes} (HOOKSTREAM_MAX_BODY_BYTES)"
        )
    notified = await notify_run(conn, run_id, event_id, data)
    if notified is None:  # the run has ended
        raise unknown
    return respond({"workflowRunId": run_id, "messageId": notified.message_id})


async def _call_of(request: web.Request) -> workflow_hooks.WebhookCall:
    host = request.host
    if not _HOST.fullmatch(host):
        raise BadRequest("the Host header is no host name or address")
    return workflow_hooks.WebhookCall(
        method=request.method,
        proto=request.scheme,
        host=host,
        url=request.rel_url.path_qs,
        header=_headers(request),
        body=base64.b64encode(await request.read()).decode(),
    )


def _headers(request: web.Request) -> dict[str, list[str]]:
    """The call's headers, name -> values, as bytes the SDK's `Headers` takes (Latin-1)."""
    if len(request.raw_headers) > MAX_HEADERS:
        raise BadRequest(f"a webhook call may have at most {MAX_HEADERS} headers")
    if sum(len(name) + len(value) for name, value in request.raw_headers) > MAX_HEADER_BYTES:
        raise BadRequest(f"a webhook call's headers may have at most {MAX_HEADER_BYTES} bytes")
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in request.raw_headers:
        name = raw_name.decode("latin-1")
        if name.lower() not in _HOP_BY_HOP:
            found.setdefault(name, []).append(raw_value.decode("latin-1"))
    return found


def add_routes(app: web.Application) -> None:
    app.router.add_get(TEMPLATE, call_webhook)  # and HEAD
    for method in METHODS[1:]:
        app.router.add_route(method, TEMPLATE, call_webhook)
