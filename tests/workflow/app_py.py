"""Workflow endpoints on the Python SDK (`upstash-workflow`), served by its FastAPI adapter
under uvicorn and pointed at hookstream: the Python twin of app.mjs.

Environment: PORT, QSTASH_URL, QSTASH_TOKEN, QSTASH_CURRENT_SIGNING_KEY,
QSTASH_NEXT_SIGNING_KEY (the SDK reads them itself), MOCK_URL (the test's third-party API).
GET /run?test=<id> answers the run id of the run a test started with `X-Test-Id: <id>`;
GET /stats?runId=<id> what ran for a run: {calls, bodies, failures, times}.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from upstash_workflow import AsyncWorkflowContext
from upstash_workflow.fastapi import Serve

MOCK = os.environ["MOCK_URL"]
app = FastAPI()
serve = Serve(app)
# run id -> what the app saw of it; test id -> run id (a run's id is the SDK's own).
stats: dict[str, dict[str, Any]] = defaultdict(
    lambda: {"calls": 0, "bodies": {}, "failures": [], "times": []}
)
runs: dict[str, str] = {}


@app.middleware("http")
async def count_calls(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Counts the deliveries of a run (the first, plain trigger carries no run id yet)."""
    run_id = request.headers.get("upstash-workflow-runid")
    if run_id:
        stats[run_id]["calls"] += 1
        stats[run_id]["times"].append(time.time())
    return await call_next(request)


def enter(context: AsyncWorkflowContext[Any]) -> None:
    """Code outside the steps runs on every call: it links the test's id to the run."""
    test_id = context.headers.get("x-test-id") or context.headers.get("X-Test-Id")
    if test_id:
        runs[test_id] = context.workflow_run_id


def body_of(context: AsyncWorkflowContext[Any], name: str) -> None:
    """Counts how often a step's body really ran (a replayed step does not run it)."""
    bodies = stats[context.workflow_run_id]["bodies"]
    bodies[name] = bodies.get(name, 0) + 1


@serve.post("/path")
async def plain_steps(context: AsyncWorkflowContext[dict[str, str]]) -> None:
    enter(context)
    text = context.request_payload["text"]

    async def first() -> str:
        body_of(context, "first")
        return f"{text}|first"

    one = await context.run("first", first)

    async def second() -> str:
        body_of(context, "second")
        return f"{one}|{context.headers.get('x-custom')}"

    two = await context.run("second", second)

    async def third() -> dict[str, str]:
        body_of(context, "third")
        return {"result": f"{two}|third"}

    await context.run("third", third)


@serve.post("/sleep")
async def sleeping(context: AsyncWorkflowContext[Any]) -> None:
    enter(context)

    async def before() -> None:
        body_of(context, "before")

    async def after() -> None:
        body_of(context, "after")

    await context.run("before", before)
    await context.sleep("nap", 2)
    await context.run("after", after)


@serve.post("/nap")
async def napping(context: AsyncWorkflowContext[Any]) -> None:
    """A run that stays RUN_STARTED for ten minutes after its first step (for cancel)."""
    enter(context)

    async def before() -> None:
        body_of(context, "before")

    await context.run("before", before)
    await context.sleep("long-nap", 600)
    await context.run("after", before)


@serve.post("/call")
async def calling(context: AsyncWorkflowContext[Any]) -> None:
    enter(context)
    ok = await context.call(
        "ok", url=f"{MOCK}/ok", method="POST", body={"hello": "wörld"},
        headers={"X-From": "workflow"},
    )  # fmt: skip
    failed = await context.call("failed", url=f"{MOCK}/fails", retries=2)

    async def record() -> dict[str, Any]:
        body_of(context, "record")
        return {
            "ok": {"status": ok.status, "body": ok.body, "header": ok.header.get("X-Mock")},
            "failed": {"status": failed.status, "body": failed.body},
        }

    await context.run("record", record)


async def failed_run(
    context: AsyncWorkflowContext[Any], status: int, message: str, headers: dict[str, str]
) -> None:
    """The failure function: what the failed run's callback told the app."""
    stats[context.workflow_run_id]["failures"].append(
        {"status": status, "message": message, "payload": context.request_payload}
    )


@serve.post("/fail", failure_function=failed_run, retries=0)
async def failing(context: AsyncWorkflowContext[Any]) -> None:
    enter(context)

    async def fine() -> str:
        body_of(context, "fine")
        return "fine"

    async def boom() -> None:
        body_of(context, "boom")
        raise RuntimeError("boom happened")

    await context.run("fine", fine)
    await context.run("boom", boom)


@app.get("/run")
async def run_of(test: str) -> dict[str, str | None]:
    return {"runId": runs.get(test)}


@app.get("/stats")
async def stats_of(runId: str) -> dict[str, Any] | None:  # noqa: N803 (app.mjs's name)
    return stats.get(runId)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
