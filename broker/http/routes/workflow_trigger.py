"""`POST /v2/trigger/{url}`: start a workflow run without an SDK (QStash's REST trigger).

The server does not create the run: it delivers one ordinary message to the workflow URL
with `Upstash-Workflow-Unknown-Sdk: true`, the run id, and a step list holding the request's
body as the initial payload. The SDK reads that as a first invocation it did not start
(`validateRequest`), and publishes the trigger itself (`Upstash-Workflow-Init: true`, with
`upstash-workflow-trigger-by-sdk`), which creates the run like any `client.trigger`. So the
message is validated and stored by the publish path (destination policy, `Upstash-*` options,
bounds), and the run by the trigger path; the request's `Upstash-Forward-*` headers reach the
app and from there the run.
"""

from __future__ import annotations

import base64
import uuid

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from broker.http.context import connection
from broker.http.destination import raw_destination
from broker.http.views import respond
from broker.options import parse_publish_headers
from broker.queue.destinations import validate_url
from broker.queue.names import check_name
from broker.queue.producer import Routing
from broker.queue.publishing import publish_request
from broker.queue.workflow_runs import RawStep, run_config

PREFIX = "/v2/trigger/"
_RUN_ID_PREFIX = "wfr_"  # what the SDKs put before a run id they are given
_OWN = ("upstash-workflow-", "upstash-forward-upstash-workflow-", "upstash-method")
"""Request headers the trigger sets itself, never the caller (the SDK takes a POST)."""
_json = msgspec.json.Encoder()


async def trigger_workflow(request: web.Request) -> web.Response:
    """201 `{workflowRunId, messageId}`: the message that makes the app start the run; 202
    with `deduplicated` and no message when a run with that id exists already."""
    conn = connection(request)
    destination = raw_destination(request, PREFIX)
    validate_url(destination, "destination", conn.settings.destination_policy)
    run_id = _run_id(request.headers.get("Upstash-Workflow-RunId", ""))
    if await run_config(conn, run_id) is not None:
        return respond({"workflowRunId": run_id, "deduplicated": True}, status=202)
    options = parse_publish_headers(_delivery_headers(request, run_id), conn.settings)
    payload = base64.b64encode(await request.read()).decode()
    steps = _json.encode([RawStep(run_id, payload, "step")])
    routing = Routing(caller_ip=request.remote or "")
    published = await publish_request(conn, destination, options, steps, routing)
    message_id = published.answers[0]["messageId"]
    return respond({"workflowRunId": run_id, "messageId": message_id}, status=201)


def _run_id(given: str) -> str:
    """The caller's `Upstash-Workflow-RunId` (with the SDKs' `wfr_` prefix), else a new id."""
    given = given.strip()
    if not given:
        return f"{_RUN_ID_PREFIX}{uuid.uuid4().hex}"
    if not given.startswith(_RUN_ID_PREFIX):
        given = _RUN_ID_PREFIX + given
    return check_name("workflow_run_id", given, "Upstash-Workflow-RunId")


def _delivery_headers(request: web.Request, run_id: str) -> CIMultiDict[str]:
    """The request's publish headers, and the two that tell the SDK to start run `run_id`."""
    headers = CIMultiDict(
        (name, value)
        for name, value in request.headers.items()
        if not name.lower().startswith(_OWN)
    )
    headers["Upstash-Forward-Upstash-Workflow-Unknown-Sdk"] = "true"
    headers["Upstash-Forward-Upstash-Workflow-RunId"] = run_id
    return headers


def add_routes(app: web.Application) -> None:
    app.router.add_post(PREFIX + "{destination:.+}", trigger_workflow)
