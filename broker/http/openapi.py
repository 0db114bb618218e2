"""The OpenAPI 3.1 document of the /v2 API, served at `GET /v2/openapi.json`.

What the code declares is derived: the request and answer shapes are the msgspec Structs of
broker/api.py and routes/batch.py (`msgspec.json.schema_components`), the path parameters come
from the route templates, the list filters from broker/http/filters.py. Written by hand here is
only what no declaration holds: which route answers which shape, and the `Upstash-*` headers.
tests/unit/test_openapi.py holds OPERATIONS and the router together, both ways.

The document is behind the API token like every /v2 path but the workflow webhook (ROUTE_ACCESS
in broker/http/middleware.py; README.md, "The API document"). It names no secret, so every
token, read-only ones too, may fetch it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from broker import api
from broker.http.filters import FILTER_KEYS
from broker.http.routes import workflow_hooks as hooks
from broker.http.routes.batch import Item

RAW = "raw"
"""A request body passed through unchanged (publish, enqueue, schedules)."""

ERRORS = (400, 401, 403, 404, 405, 408, 409, 413, 429, 503)
"""What any /v2 route may answer besides its success: the middleware's and the domain errors'
statuses (broker/http/middleware.py STATUS, limits.py, rate limits, an unknown method)."""

PAGING = ("cursor", "count")
LISTING = (*PAGING, "order", "fromDate", "toDate", "trimBody", *FILTER_KEYS)
WORKFLOW_LOGS = ("groupBy", "workflowRunId", "workflowUrl", "state", "label", "fromDate", "toDate",
                 "callerIp", *PAGING)  # fmt: skip
WORKFLOW_DLQ = ("workflowRunId", "workflowUrl", "workflowCreatedAt", "failureFunctionState",
                "label", "flowControlKey", "fromDate", "toDate", *PAGING)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: its summary, success status, answer and request shapes."""

    summary: str
    ok: tuple[int, ...] = (200,)
    answer: Any = None  # a type msgspec describes; None: any JSON value
    body: Any = None  # a JSON body type, RAW, or None for no body
    query: tuple[str, ...] = ()
    publish_headers: bool = False
    public: bool = False  # called without a token


Messages = list[dict[str, str | bool]]  # the publish answer items (messageId, url, deduplicated)
_PUBLISH = Op(
    "Publish a message to a URL or URL group",
    (201, 202),
    dict[str, str | bool] | Messages,
    RAW,
    publish_headers=True,
)
OPERATIONS: dict[tuple[str, str], Op] = {
    ("POST", "/v2/publish/{destination}"): _PUBLISH,
    ("POST", "/v2/enqueue/{queue}/{destination}"): Op(
        "Enqueue a message to an ordered queue", _PUBLISH.ok, _PUBLISH.answer, RAW,
        publish_headers=True,
    ),
    ("POST", "/v2/batch"): Op(
        "Publish or enqueue many messages", (201,),
        list[dict[str, str | bool] | Messages], list[Item],
    ),
    ("GET", "/v2/messages/{message_id}"): Op("Get a message", answer=api.Message),
    ("DELETE", "/v2/messages/{message_id}"): Op("Cancel a message", answer=dict[str, int]),
    ("DELETE", "/v2/messages"): Op(
        "Cancel messages by ids or filter", answer=dict[str, int],
        query=("messageIds", *PAGING, *FILTER_KEYS),
    ),
    ("GET", "/v2/keys"): Op("Get the signing keys", answer=dict[str, str]),
    ("POST", "/v2/keys/rotate"): Op("Rotate the signing keys", answer=dict[str, str]),
    ("GET", "/v2/readiness"): Op("Whether the API can store messages", (200, 503)),
    ("GET", "/v2/stats"): Op("Queue statistics for the console"),
    ("GET", "/v2/cronPreview"): Op("The next times of a cron", query=("cron", "count")),
    ("GET", "/v2/events"): Op("List events", query=("messageIds", *LISTING)),
    ("GET", "/v2/logs"): Op("List events (QStash's newer name)", query=("messageIds", *LISTING)),
    ("GET", "/v2/dlq"): Op("List dead letters", query=("dlqIds", *LISTING)),
    ("GET", "/v2/dlq/{dlq_id}"): Op("Get a dead letter", answer=api.DlqMessage),
    ("DELETE", "/v2/dlq"): Op("Delete dead letters", query=("dlqIds", *PAGING, *FILTER_KEYS)),
    ("DELETE", "/v2/dlq/{dlq_id}"): Op("Delete a dead letter"),
    ("POST", "/v2/dlq/retry"): Op(
        "Retry dead letters", (201,), query=("dlqIds", *PAGING, *FILTER_KEYS),
        publish_headers=True,
    ),
    ("POST", "/v2/dlq/retry/{dlq_id}"): Op("Retry a dead letter", (201,), publish_headers=True),
    ("GET", "/v2/schedules"): Op("List schedules", answer=list[api.Schedule]),
    ("GET", "/v2/schedules/{schedule_id}"): Op("Get a schedule", answer=api.Schedule),
    ("POST", "/v2/schedules/{destination}"): Op(
        "Create or update a schedule", answer=dict[str, str], body=RAW, publish_headers=True,
    ),
    ("PATCH", "/v2/schedules/{schedule_id}/{action}"): Op("Pause or resume a schedule"),
    ("DELETE", "/v2/schedules/{schedule_id}"): Op("Delete a schedule"),
    ("GET", "/v2/topics"): Op("List URL groups", answer=list[api.UrlGroup]),
    ("GET", "/v2/topics/{name}"): Op("Get a URL group", answer=api.UrlGroup),
    ("POST", "/v2/topics/{name}/endpoints"): Op(
        "Add endpoints to a URL group", body=dict[str, list[api.Endpoint]],
    ),
    ("DELETE", "/v2/topics/{name}/endpoints"): Op(
        "Remove endpoints from a URL group", body=dict[str, list[api.Endpoint]],
    ),
    ("DELETE", "/v2/topics/{name}"): Op("Delete a URL group"),
    ("GET", "/v2/queues"): Op("List queues", answer=list[api.Queue]),
    ("GET", "/v2/queues/{name}"): Op("Get a queue", answer=api.Queue),
    ("POST", "/v2/queues"): Op("Create or update a queue", body=dict[str, str | int | bool]),
    ("DELETE", "/v2/queues/{name}"): Op("Delete a queue"),
    ("POST", "/v2/queues/{name}/pause"): Op("Pause a queue"),
    ("POST", "/v2/queues/{name}/resume"): Op("Resume a queue"),
    ("GET", "/v2/flowControl"): Op(
        "List flow-control keys", answer=list[api.FlowControl], query=("search",),
    ),
    ("GET", "/v2/flowControl/{key}"): Op("Get a flow-control key", answer=api.FlowControl),
    ("GET", "/v2/globalParallelism"): Op(
        "Messages admitted across every key", answer=api.GlobalParallelism,
    ),
    ("POST", "/v2/flowControl/{key}/pause"): Op("Pause a flow-control key"),
    ("POST", "/v2/flowControl/{key}/resume"): Op("Resume a flow-control key"),
    ("POST", "/v2/flowControl/{key}/pin"): Op(
        "Pin a key's limits", query=("parallelism", "rate", "period"),
    ),
    ("POST", "/v2/flowControl/{key}/unpin"): Op(
        "Unpin a key's limits", query=("parallelism", "rate"),
    ),
    ("POST", "/v2/flowControl/{key}/resetRate"): Op("Reset a key's rate window"),
    ("POST", "/v2/flowControl/{key}/reset"): Op("Reset a key's rate window (alias)"),
    ("GET", "/v2/openapi.json"): Op("This document"),
    ("GET", "/v2/workflows/runs/{run_id}"): Op("A workflow run's raw steps (LazyFetch)"),
    ("DELETE", "/v2/workflows/runs/{run_id}"): Op(
        "Finish (cancel=false) or cancel (cancel=true) a workflow run", query=("cancel",),
    ),
    ("DELETE", "/v2/workflows/runs"): Op(
        "Cancel workflow runs by ids or filter", answer=dict[str, int],
        query=("workflowRunIds", "workflowUrl", "workflowUrlExactMatch", "label", "fromDate",
               "toDate", "flowControlKey", "callerIp", *PAGING),
    ),
    ("GET", "/v2/workflows/events"): Op("List workflow runs", query=WORKFLOW_LOGS),
    ("GET", "/v2/workflows/logs"): Op("List workflow runs (newer name)", query=WORKFLOW_LOGS),
    ("POST", "/v2/wait/{event_id}"): Op("Wait for an event in a workflow run", body=RAW),
    ("POST", "/v2/notify/{event_id}"): Op("Notify the waiters of an event", body=RAW),
    ("POST", "/v2/notify/{run_id}/{event_id}"): Op(
        "Notify one workflow run's waiter of an event, or hold it for the run's next wait",
        body=RAW,
    ),
    ("GET", "/v2/waiters/{event_id}"): Op(
        "The workflow runs' waiters for an event", answer=list[dict[str, Any]],
    ),
    **{
        (method, hooks.TEMPLATE): Op(
            f"Call a workflow webhook ({method}), without a token", answer=dict[str, str],
            body=None if method == "GET" else RAW, public=True,
        )
        for method in hooks.METHODS
    },
    ("POST", "/v2/trigger/{destination}"): Op(
        "Start a workflow run without an SDK (the app's SDK then triggers it)", (201, 202),
        dict[str, str | bool], RAW, publish_headers=True,
    ),
    # --- wfdlq ---
    ("GET", "/v2/workflows/dlq"): Op(
        "List the DLQ entries of failed workflow steps", query=WORKFLOW_DLQ,
    ),
    ("DELETE", "/v2/workflows/dlq"): Op(
        "Delete workflow DLQ entries by ids or filter", answer=dict[str, Any],
        query=("dlqIds", *WORKFLOW_DLQ),
    ),
    ("POST", "/v2/workflows/dlq/resume"): Op(
        "Resume failed workflow runs from their failed steps", answer=dict[str, Any],
        query=("dlqIds", *WORKFLOW_DLQ),
    ),
    ("POST", "/v2/workflows/dlq/restart"): Op(
        "Restart failed workflow runs from their initial body", answer=dict[str, Any],
        query=("dlqIds", *WORKFLOW_DLQ),
    ),
    ("POST", "/v2/workflows/dlq/callback/{dlq_id}"): Op(
        "Send a failed workflow run's failure callback again", answer=dict[str, Any],
    ),
}  # fmt: skip

# The request headers a publish reads (broker/options.py), by hand: no declaration lists them.
PUBLISH_HEADERS = {
    "Upstash-Method": "the HTTP method of the delivery (default POST)",
    "Upstash-Delay": "a delay before the first attempt: 10s, 5m, 1h30m",
    "Upstash-Not-Before": "the earliest delivery time, in Unix seconds",
    "Upstash-Retries": "retries after the first attempt",
    "Upstash-Retry-Delay": "a backoff expression in `retried`, e.g. `pow(2, retried) * 1000`",
    "Upstash-Timeout": "the timeout of one attempt: 30s",
    "Upstash-Callback": "a URL told about every attempt",
    "Upstash-Failure-Callback": "a URL told once the retries ran out",
    "Upstash-Deduplication-Id": "store once per id within the dedup window",
    "Upstash-Content-Based-Deduplication": "`true`: store once per content",
    "Upstash-Flow-Control-Key": "the flow-control key",
    "Upstash-Flow-Control-Value": "`parallelism=2, rate=10, period=1m`",
    "Upstash-Label": "a label (repeatable)",
    "Upstash-Redact-Fields": "`body`, `header[Name]`: kept out of the API's answers",
    "Upstash-Cron": "schedules only: the cron expression",
    "Upstash-Schedule-Id": "schedules only: create or update this id",
    "Upstash-Queue-Name": "schedules only: the queue its messages join",
}
_PATH_PARAMETER = re.compile(r"\{([^}:]+)\}")
# Path parameters whose route pattern allows only these values (routes/schedules.py), and the
# shapes of the ids the server issues (broker/queue/keys.py), so that generated requests reach
# the lookups instead of failing the first check.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "action": {"type": "string", "enum": ["pause", "resume"]},
    "dlq_id": {"type": "string", "pattern": "^[0-9]+-[0-9]+-[0-9]+$"},
    "message_id": {"type": "string", "pattern": "^msg_[0-9]+_[0-9A-Z]{26}$"},
    "run_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},  # names.py's rule
}


def openapi_document() -> dict[str, Any]:
    """The whole document (built once: nothing in it changes while the process runs)."""
    return _document()


@functools.cache
def _document() -> dict[str, Any]:
    types = [t for op in OPERATIONS.values() for t in (op.answer, op.body) if _typed(t)]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    described = iter(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for (method, template), op in OPERATIONS.items():
        answer = next(described) if _typed(op.answer) else {}
        body = next(described) if _typed(op.body) else None
        paths.setdefault(template, {})[method.lower()] = _operation(template, op, answer, body)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hookstream (QStash v2 API)", "version": "2"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components | {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


_REF = "#/components/schemas/{name}"
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _typed(t: Any) -> bool:
    return t is not None and t != RAW


def _operation(template: str, op: Op, answer: Any, body: Any) -> dict[str, Any]:
    parameters = [_parameter(name, "path", required=True) for name in _path_names(template)]
    for parameter in parameters:
        parameter["schema"] = PATH_SCHEMAS.get(parameter["name"], parameter["schema"])
    parameters += [_parameter(name, "query") for name in op.query]
    if op.publish_headers:
        parameters += [_parameter(n, "header", d) for n, d in PUBLISH_HEADERS.items()]
    operation: dict[str, Any] = {
        "summary": op.summary,
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", op.summary).strip("_").lower(),
        "parameters": parameters,
        "responses": _responses(op, answer),
    }
    if op.public:
        operation["security"] = []
    if op.body == RAW:
        raw = {"schema": {"type": "string", "format": "binary"}}
        operation["requestBody"] = {"content": {"application/octet-stream": raw}}
    elif body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return operation


def _responses(op: Op, answer: Any) -> dict[str, Any]:
    json_error = {"content": {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}}}
    responses: dict[str, Any] = {
        str(status): {"description": "success", "content": {"application/json": {"schema": answer}}}
        for status in op.ok
    }
    for status in ERRORS:
        responses.setdefault(str(status), {"description": "error", **json_error})
    return responses


def _parameter(name: str, where: str, description: str = "", required: bool = False) -> Any:
    parameter = {"name": name, "in": where, "required": required, "schema": {"type": "string"}}
    return parameter | ({"description": description} if description else {})


def _path_names(template: str) -> list[str]:
    return _PATH_PARAMETER.findall(template)


async def serve_openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/openapi.json", serve_openapi)
