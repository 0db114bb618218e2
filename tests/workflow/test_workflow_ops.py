"""Operating workflow runs: their metrics on the real server's /metrics, their start and end
log lines, the logs API's step times, `next` group and failure function after real runs of
the SDK app (tests/workflow/app.mjs), and bulk cancel by the trigger's caller IP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.support.api import api, eventually
from tests.support.hookstream import Hookstream
from tests.workflow.conftest import RUN_TIMEOUT, App, run_in

pytestmark = pytest.mark.integration

STARTED = "hookstream_workflow_runs_started"
FINISHED = "hookstream_workflow_runs_finished"
STEPS = "hookstream_workflow_step_deliveries"
PROXY_SOURCE = "127.0.0.2"  # another loopback address: the source of the proxy's connections


async def _metrics(hookstream: Hookstream) -> dict[tuple[str, str], float]:
    """The workflow counters of the server's /metrics: (family, label value) -> value."""
    async with aiohttp.ClientSession() as session, session.get(hookstream.url + "/metrics") as r:
        text = await r.text()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in (STARTED, FINISHED, STEPS):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    label = next(iter(sample.labels.values()), "")
                    found[family.name, label] = sample.value
    return found


def _grown(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def _sleeping(hookstream: Hookstream, run_id: str) -> bool:
    """The /long run has stored its 30 s sleep step, and the delivery that published it has
    settled: the sleep's message is the only one under way. (The app's second call alone
    comes before both.)"""
    _, logs = await api(hookstream, "GET", "/v2/workflows/logs", params={"workflowRunId": run_id})
    if not logs["runs"]:
        return False
    [run] = logs["runs"]
    naps = [s["messageId"] for s in _finished(run) if s["stepName"] == "long-nap"]
    return bool(naps) and [s["messageId"] for s in _next(run)] == naps


async def test_metrics_and_log_lines_follow_runs_to_each_end(
    hookstream: Hookstream, app: App
) -> None:
    """Three runs, one per final state: /metrics counts 3 started, one RUN_SUCCESS,
    RUN_FAILED and RUN_CANCELED each, the successful step deliveries and the one failed
    attempt; each run logs workflow.run_started and workflow.run_ended with its state."""
    before = await _metrics(hookstream)
    with capture_logs() as logs:
        ok = await app.trigger("/path", body={"text": "m"})
        failing = await app.trigger("/fail", body={"n": 1}, retries=0)
        sleeping = await app.trigger("/long")
        await run_in(hookstream, ok, "RUN_SUCCESS")
        await run_in(hookstream, failing, "RUN_FAILED")
        await eventually(lambda: _sleeping(hookstream, sleeping), RUN_TIMEOUT)
        assert await app.node({"op": "cancel", "ids": sleeping}) == {"cancelled": 1}
        await eventually(lambda: _failure_ran(app, failing), RUN_TIMEOUT)
    grown = _grown(before, await _metrics(hookstream))
    # Step deliveries to the app: /path 4 (three steps and the finish); /fail the trigger
    # (which runs "fine") and the failing "boom" (the failure function's callback is no
    # step); /long the trigger ("start") and the call that published the sleep: 7 successes
    # and the one 500.
    assert grown == {
        (STARTED, ""): 3,
        (FINISHED, "RUN_SUCCESS"): 1,
        (FINISHED, "RUN_FAILED"): 1,
        (FINISHED, "RUN_CANCELED"): 1,
        (STEPS, "success"): 7,
        (STEPS, "http_error"): 1,
    }
    lines = {
        (e["event"], e["workflow_run_id"], e.get("state"))
        for e in logs
        if e["event"].startswith("workflow.run_")
    }
    assert lines == {
        ("workflow.run_started", ok, None),
        ("workflow.run_started", failing, None),
        ("workflow.run_started", sleeping, None),
        ("workflow.run_ended", ok, "RUN_SUCCESS"),
        ("workflow.run_ended", failing, "RUN_FAILED"),
        ("workflow.run_ended", sleeping, "RUN_CANCELED"),
    }


async def test_two_parallel_steps_failing_fail_their_run_once(
    hookstream: Hookstream, app: App
) -> None:
    """Promise.all of two throwing steps with retries 0: the run is counted RUN_FAILED once
    and its failure function runs once, however many of the two were dead-lettered."""
    before = await _metrics(hookstream)
    run_id = await app.trigger("/twofail", retries=0)
    await run_in(hookstream, run_id, "RUN_FAILED")
    await eventually(lambda: _failure_ran(app, run_id), RUN_TIMEOUT)

    async def both_settled() -> bool:
        return not _next_in_progress(await _run(hookstream, run_id))

    await eventually(both_settled, RUN_TIMEOUT)
    grown = _grown(before, await _metrics(hookstream))
    assert grown[FINISHED, "RUN_FAILED"] == 1
    assert (FINISHED, "RUN_SUCCESS") not in grown
    assert len((await app.stats(run_id))["failures"]) == 1
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    dead = [m for m in dlq["messages"] if m["workflowRunId"] == run_id]
    assert 1 <= len(dead) <= 2
    assert grown[STEPS, "http_error"] == len(dead)


def _next_in_progress(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _next(run) if s["state"] in ("STEP_PROGRESS", "STEP_RETRY")]


async def _failure_ran(app: App, run_id: str) -> bool:
    return bool((await app.stats(run_id))["failures"])


def _finished(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for g in run["steps"] if g["type"] != "next" for s in g["steps"]]


def _next(run: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [g for g in run["steps"] if g["type"] == "next"]
    assert len(groups) <= 1, run["steps"]
    assert groups == [] or run["steps"][-1] is groups[0], "the next group comes last"
    return groups[0]["steps"] if groups else []


async def _run(hookstream: Hookstream, run_id: str) -> dict[str, Any]:
    _, logs = await api(
        hookstream, "GET", "/v2/workflows/logs", params={"workflowRunId": run_id}
    )  # fmt: skip
    [run] = logs["runs"]
    return run  # type: ignore[no-any-return]


async def test_logs_show_step_times_and_the_sleeping_step_as_next(
    hookstream: Hookstream, app: App
) -> None:
    """A run sleeping 30 s: its finished steps carry their creation times (in order, within
    the run's life) and the trigger's retries; the sleep step's message is the `next` group,
    STEP_PROGRESS; after client.cancel the same message is STEP_CANCELED."""
    started = int(time.time() * 1000)
    run_id = await app.trigger("/long", retries=2)
    await eventually(lambda: _sleeping(hookstream, run_id), RUN_TIMEOUT)
    run = await _run(hookstream, run_id)
    assert run["workflowState"] == "RUN_STARTED"
    steps = _finished(run)
    assert [(s["stepName"], s["stepType"]) for s in steps] == [
        ("init", "Initial"), ("start", "Run"), ("long-nap", "SleepFor"),
    ]  # fmt: skip
    times = [s["createdAt"] for s in steps]
    assert times == sorted(times)
    assert started - 1000 <= run["workflowRunCreatedAt"] <= times[0] + 1000
    assert times[-1] <= int(time.time() * 1000)
    assert {s["retries"] for s in steps} == {2}
    assert steps[-1]["sleepFor"] == 30
    sleep = steps[-1]["messageId"]
    assert _next(run) == [{"messageId": sleep, "state": "STEP_PROGRESS", "retries": 2}]
    assert "failureFunction" not in run
    assert "dlqId" not in run
    # The SDK's client reads the same shape.
    answer = await app.node({"op": "logs", "params": {"filter": {"workflowRunId": run_id}}})
    assert answer["runs"][0]["steps"][-1] == {"type": "next", "steps": _next(run)}

    assert await app.node({"op": "cancel", "ids": run_id}) == {"cancelled": 1}
    run = await _run(hookstream, run_id)
    assert run["workflowState"] == "RUN_CANCELED"
    assert _next(run) == [{"messageId": sleep, "state": "STEP_CANCELED", "retries": 2}]


async def test_logs_of_a_failed_run_show_the_failed_step_and_the_failure_function(
    hookstream: Hookstream, app: App
) -> None:
    """A step failing with retries 0: the run's dlqId is the DLQ entry's; the `next` group is
    the failed step, STEP_FAILED, with the app's 500 as its error; `failureFunction` names
    the failure callback to the workflow URL, the step's status and answer, the DLQ id, and
    CALLBACK_SUCCESS once the failure function ran."""
    run_id = await app.trigger("/fail", body={"n": 2}, retries=0)
    await run_in(hookstream, run_id, "RUN_FAILED")
    await eventually(lambda: _failure_ran(app, run_id), RUN_TIMEOUT)
    _, dlq = await api(hookstream, "GET", "/v2/dlq")
    [entry] = [m for m in dlq["messages"] if m["workflowRunId"] == run_id]

    async def callback_settled() -> bool:
        return (await _run(hookstream, run_id))["failureFunction"]["state"] != "CALLBACK_INPROGRESS"

    await eventually(callback_settled, RUN_TIMEOUT)
    run = await _run(hookstream, run_id)
    assert run["dlqId"] == entry["dlqId"]
    [failed] = _next(run)
    assert (failed["messageId"], failed["state"], failed["retries"]) == (
        entry["messageId"], "STEP_FAILED", 0,
    )  # fmt: skip
    [error] = failed["errors"]
    assert error["status"] == 500
    assert "boom happened" in error["body"]
    assert error["error"] == "HTTP 500"
    function = run["failureFunction"]
    assert function["url"] == app.url + "/fail"
    assert function["state"] == "CALLBACK_SUCCESS"
    assert function["failStatus"] == 500
    assert "boom happened" in function["failResponse"]
    assert function["dlqId"] == entry["dlqId"]
    assert function["messageId"].startswith("msg_")
    assert function["messageId"] not in {s["messageId"] for s in _finished(run)}
    assert "errors" not in function  # delivered at the first attempt


# -- bulk cancel by callerIp ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _proxy(target_port: int) -> AsyncIterator[str]:
    """A TCP proxy on 127.0.0.1 whose connections to hookstream come from PROXY_SOURCE, as a
    reverse proxy's do: hookstream sees the proxy's address, not its client's."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await asyncio.open_connection(
            "127.0.0.1", target_port, local_addr=(PROXY_SOURCE, 0)
        )
        await asyncio.gather(pipe(reader, upstream[1]), pipe(upstream[0], writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_bulk_cancel_by_caller_ip(hookstream: Hookstream, app: App) -> None:
    """Two sleeping runs, one triggered directly (caller 127.0.0.1) and one through a proxy
    (caller: the proxy's address): client.cancel with callerIp cancels only the proxied one;
    the logs filter by callerIp too; a value that is no IP address, or too many, is a 400."""
    direct = await app.trigger("/long")
    async with _proxy(hookstream.settings.port) as proxy_url:
        proxied_app = App(app.url, app.env | {"QSTASH_URL": proxy_url})
        proxied = await proxied_app.trigger("/long")
    for run_id in (direct, proxied):
        await eventually(lambda r=run_id: _sleeping(hookstream, r), RUN_TIMEOUT)

    _, logs = await api(hookstream, "GET", "/v2/workflows/logs", params={"callerIp": PROXY_SOURCE})
    assert [r["workflowRunId"] for r in logs["runs"]] == [proxied]
    cancel = {"op": "cancel", "ids": {"filter": {"callerIp": [PROXY_SOURCE, "10.9.9.9"]}}}
    assert await app.node(cancel) == {"cancelled": 1}
    assert (await _run(hookstream, proxied))["workflowState"] == "RUN_CANCELED"
    assert (await _run(hookstream, direct))["workflowState"] == "RUN_STARTED"
    # Leading zeros are no IPv4 address (ipaddress refuses their octal ambiguity).
    code, answer = await api(
        hookstream, "DELETE", "/v2/workflows/runs", params={"callerIp": "127.000.0.1"}
    )
    assert code == 400, answer
    assert "callerIp must be an IPv4 or IPv6 address" in answer["error"]
    code, answer = await api(
        hookstream, "DELETE", "/v2/workflows/runs", params={"callerIp": "127.0.0.1"}
    )
    assert (code, answer) == (200, {"cancelled": 1})
    assert (await _run(hookstream, direct))["workflowState"] == "RUN_CANCELED"
    too_many = ",".join(f"10.0.0.{i}" for i in range(101))
    code, answer = await api(
        hookstream, "DELETE", "/v2/workflows/runs", params={"callerIp": too_many}
    )
    assert code == 400
    assert "at most 100 callerIp" in answer["error"]
