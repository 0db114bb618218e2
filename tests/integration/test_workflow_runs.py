"""Workflow runs at the HTTP level: a sink plays the workflow endpoint and the test publishes
what the SDK would (the SDK itself runs in tests/workflow/)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from broker.queue import workflow_runs, workflow_waits
from broker.queue.keys import queue_partition, run_partition
from tests.support.api import (
    api,
    by_path,
    events_of,
    eventually,
    json_body,
    status,
    verify_signature,
)
from tests.support.hookstream import Hookstream
from tests.support.sink import Received, Sink
from workers import workflow as worker_workflow

pytestmark = pytest.mark.integration

RUN = "wfr_test-run-1"


def _workflow(init: bool, run_id: str = RUN, **extra: str) -> dict[str, str]:
    """The headers the SDK sends, without WF_DetectTrigger: the sink is no workflow app."""
    return {
        "Upstash-Workflow-RunId": run_id,
        "Upstash-Workflow-Init": "true" if init else "false",
        "Upstash-Feature-Set": "LazyFetch,InitialBody,WF_TriggerOnConfig",
        "Upstash-Forward-Upstash-Workflow-Sdk-Version": "1",
        **extra,
    }


async def _publish(hs: Hookstream, url: str, body: str, headers: dict[str, str]) -> Any:
    return await api(hs, "POST", f"/v2/publish/{url}", data=body.encode(), headers=headers)


def _steps(received: Received) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(received.body)
    return steps


def _decoded(steps: list[dict[str, Any]]) -> list[str]:
    return [base64.b64decode(s["body"]).decode() for s in steps]


async def test_each_step_delivery_carries_the_steps_up_to_itself(
    hookstream: Hookstream, sink: Sink
) -> None:
    """The trigger is delivered as `[initial]`; each later step as the list up to and
    including itself, with the run id, creation time, the trigger's forwarded header and
    labels, signed over the body actually sent; a repeated trigger is deduplicated."""
    url = sink.url("/wf")
    trigger = _workflow(True, **{"Upstash-Forward-X-User": "u1", "Upstash-Label": "lab"})
    code, first = await _publish(hookstream, url, "héllo", trigger)
    assert code == 201
    code, again = await _publish(hookstream, url, "other", trigger)
    assert again == {"messageId": first["messageId"], "url": url, "deduplicated": True}
    [delivery] = await sink.wait_for(1, path="/wf")
    assert _decoded(_steps(delivery)) == ["héllo"]
    assert delivery.headers["Upstash-Workflow-RunId"] == RUN
    assert delivery.headers["Upstash-Workflow-Sdk-Version"] == "1"
    assert int(delivery.headers["Upstash-Workflow-CreatedAt"]) > 0
    await verify_signature(hookstream, delivery, url)

    for step in ("s1", "s2"):
        code, _ = await _publish(hookstream, url, step, _workflow(False))
        assert code == 201
    deliveries = await sink.wait_for(3, path="/wf")
    bodies = sorted((_decoded(_steps(d)) for d in deliveries), key=len)
    assert bodies == [["héllo"], ["héllo", "s1"], ["héllo", "s1", "s2"]]
    for delivery in deliveries[1:]:
        assert delivery.headers["X-User"] == "u1"  # the trigger's, inherited
        assert delivery.headers["Upstash-Label"] == "lab"
        assert delivery.headers["Upstash-Workflow-RunId"] == RUN
        await verify_signature(hookstream, delivery, url)
    code, steps = await api(hookstream, "GET", f"/v2/workflows/runs/{RUN}")
    assert code == 200
    assert [s["callType"] for s in steps] == ["step"] * 3
    assert steps[0]["messageId"] == first["messageId"]


async def test_a_finished_run_takes_no_steps_and_shows_its_result(
    hookstream: Hookstream, sink: Sink
) -> None:
    """DELETE ?cancel=false ends the run RUN_SUCCESS with its result; then its steps are
    gone (404), a new step is a 400 the SDK reads as finished, and the logs show it."""
    url = sink.url("/wf")
    await _publish(hookstream, url, "{}", _workflow(True))
    await sink.wait_for(1, path="/wf")
    code, _ = await api(
        hookstream, "DELETE", f"/v2/workflows/runs/{RUN}?cancel=false", data=b'"done"'
    )
    assert code == 200
    code, _ = await api(hookstream, "GET", f"/v2/workflows/runs/{RUN}")
    assert code == 404
    code, answer = await _publish(hookstream, url, "late", _workflow(False))
    assert (code, answer["error"]) == (400, "can not append to a cancelled workflow")
    code, logs = await api(hookstream, "GET", "/v2/workflows/events", params={"workflowRunId": RUN})
    assert code == 200
    [run] = logs["runs"]
    assert run["workflowState"] == "RUN_SUCCESS"
    assert run["workflowRunResponse"] == '"done"'
    assert run["workflowUrl"] == url
    assert run["workflowRunCompletedAt"] >= run["workflowRunCreatedAt"]


async def test_cancel_drops_the_runs_delayed_steps(hookstream: Hookstream, sink: Sink) -> None:
    """A bulk cancel answers {"cancelled": n} and the run's delayed step is never delivered;
    a second cancel counts nothing."""
    url = sink.url("/wf")
    await _publish(hookstream, url, "{}", _workflow(True))
    await sink.wait_for(1, path="/wf")
    code, answer = await _publish(
        hookstream, url, "sleep", _workflow(False, **{"Upstash-Delay": "2s"})
    )
    assert code == 201
    for expected in (1, 0):
        code, body = await api(
            hookstream, "DELETE", "/v2/workflows/runs", params={"workflowRunIds": RUN}
        )
        assert (code, body) == (200, {"cancelled": expected})
    assert "CANCELED" in await events_of(hookstream, answer["messageId"])
    code, logs = await api(
        hookstream, "GET", "/v2/workflows/logs", params={"state": "RUN_CANCELED"}
    )
    assert [r["workflowRunId"] for r in logs["runs"]] == [RUN]
    code, logs = await api(hookstream, "GET", "/v2/workflows/logs", params={"state": "RUN_SUCCESS"})
    assert logs["runs"] == []


def _trigger_failing_at_once(sink: Sink) -> dict[str, str]:
    """A trigger with no retries and the SDK's failure callback to the sink's /failure."""
    return _workflow(
        True,
        **{
            "Upstash-Retries": "0",
            "Upstash-Failure-Callback": sink.url("/failure"),
            "Upstash-Failure-Callback-Workflow-Runid": RUN,
            "Upstash-Failure-Callback-Workflow-Calltype": "failureCall",
            "Upstash-Failure-Callback-Forward-Upstash-Workflow-Is-Failure": "true",
        },
    )


async def test_a_step_out_of_retries_fails_the_run_with_its_failure_callback(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A step that exhausts the trigger's retries (0) is dead-lettered with the run's fields,
    the run is RUN_FAILED, and the failure callback reaches the failure URL once with the run
    id header and a body carrying the run id and the initial payload; `source=workflow` lists
    the DLQ's workflow entries only."""
    sink.respond = by_path(
        {"/wf": status(500, '{"message":"boom"}'), "/wf-plain": status(500, "plain failure")}
    )
    url = sink.url("/wf")
    await _publish(hookstream, url, "initial", _trigger_failing_at_once(sink))
    [failure] = await sink.wait_for(1, path="/failure")
    assert failure.headers["Upstash-Workflow-RunId"] == RUN
    assert failure.headers["Upstash-Workflow-Is-Failure"] == "true"
    body = json_body(failure.body)
    assert body["workflowRunId"] == RUN
    assert base64.b64decode(body["sourceBody"]) == b"initial"
    assert base64.b64decode(body["body"]) == b'{"message":"boom"}'
    assert body["status"] == 500
    assert len([r for r in sink.received if r.path == "/wf"]) == 1

    await hookstream.publish(sink.url("/wf-plain"), "plain", **{"Upstash-Retries": "0"})

    async def both_dead() -> bool:
        _, dlq = await api(hookstream, "GET", "/v2/dlq")
        return len(dlq["messages"]) == 2

    await eventually(both_dead)
    _, dlq = await api(hookstream, "GET", "/v2/dlq", params={"source": "workflow"})
    [entry] = dlq["messages"]  # not the plain message
    assert (entry["workflowRunId"], entry["source"]) == (RUN, "workflow")
    assert entry["workflowUrl"] == url

    async def failed() -> bool:
        _, logs = await api(
            hookstream, "GET", "/v2/workflows/events", params={"workflowRunId": RUN}
        )
        return bool(logs["runs"]) and logs["runs"][0]["workflowState"] == "RUN_FAILED"

    await eventually(failed)


async def test_workflow_bounds_are_clear_400s(redis_url: str, sink: Sink) -> None:
    """Past HOOKSTREAM_MAX_WORKFLOW_STEPS a step is a 400 naming it; a step of an unknown run
    and a malformed run id are 400s too."""
    hs = await Hookstream(redis_url, max_workflow_steps=2).start()
    try:
        url = sink.url("/wf")
        await _publish(hs, url, "{}", _workflow(True))
        code, _ = await _publish(hs, url, "s1", _workflow(False))
        assert code == 201
        code, answer = await _publish(hs, url, "s2", _workflow(False))
        assert code == 400
        assert "HOOKSTREAM_MAX_WORKFLOW_STEPS (2)" in answer["error"]
        code, answer = await _publish(hs, url, "x", _workflow(False, run_id="wfr_none"))
        assert (code, answer["error"]) == (400, "workflow run wfr_none does not exist")
        code, answer = await _publish(hs, url, "x", _workflow(True, run_id="wfr_{bad}"))
        assert code == 400
        assert "Upstash-Workflow-RunId" in answer["error"]
    finally:
        await hs.stop()


async def test_large_step_lists_are_fetched_by_the_sdk(redis_url: str, sink: Sink) -> None:
    """A step list over HOOKSTREAM_MAX_BODY_BYTES is delivered empty (LazyFetch) and still
    signed; GET /v2/workflows/runs/{id} serves it."""
    hs = await Hookstream(redis_url, max_body_bytes=4096).start()
    try:
        url = sink.url("/wf")
        await _publish(hs, url, "x" * 3500, _workflow(True))
        [delivery] = await sink.wait_for(1, path="/wf")
        assert delivery.body == b""
        await verify_signature(hs, delivery, url)
        code, steps = await api(hs, "GET", f"/v2/workflows/runs/{RUN}")
        assert code == 200
        assert _decoded(steps) == ["x" * 3500]
    finally:
        await hs.stop()


async def test_context_cancel_and_the_logs_pages(hookstream: Hookstream, sink: Sink) -> None:
    """DELETE /v2/workflows/runs/{id}?cancel=true cancels one run (twice is a 404); the
    logs list runs newest first, `count` at a time with a cursor, and running runs keep
    an expiry (they do not outlive an idle run's bound)."""
    url = sink.url("/wf")
    for index in range(3):
        await _publish(hookstream, url, "{}", _workflow(True, run_id=f"wfr_page-{index}"))
    code, _ = await api(hookstream, "DELETE", "/v2/workflows/runs/wfr_page-1?cancel=true")
    assert code == 200
    code, _ = await api(hookstream, "DELETE", "/v2/workflows/runs/wfr_page-1?cancel=true")
    assert code == 404
    code, first = await api(hookstream, "GET", "/v2/workflows/events", params={"count": "2"})
    assert code == 200
    assert [r["workflowRunId"] for r in first["runs"]] == ["wfr_page-2", "wfr_page-1"]
    assert first["runs"][1]["workflowState"] == "RUN_CANCELED"
    params = {"count": "2", "cursor": first["cursor"]}
    _, second = await api(hookstream, "GET", "/v2/workflows/events", params=params)
    assert [r["workflowRunId"] for r in second["runs"]] == ["wfr_page-0"]
    assert "cursor" not in second
    for run_id in ("wfr_page-0", "wfr_page-2"):
        partition = await workflow_runs.partition_of_run(hookstream.conn, run_id)
        ttl = await hookstream.conn.redis.pttl(partition.workflow_run(run_id)["run"])
        assert 0 < ttl <= workflow_runs.idle_ms(hookstream.conn)


async def test_a_flow_controlled_run_lives_with_its_gate(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A run whose trigger has a flow-control key lives in the key's partition, found through
    a pointer; its steps inherit the key (they wait in its gate) and land there too. A step
    with a flow-control key of its own is a 400."""
    url = sink.url("/wf")
    partitions = hookstream.conn.partitions
    run_id = next(
        f"wfr_fc-{i}"
        for i in range(100)
        if run_partition(f"wfr_fc-{i}", len(partitions)) != queue_partition("fk", len(partitions))
    )
    flow = {"Upstash-Flow-Control-Key": "fk", "Upstash-Flow-Control-Value": "parallelism=1"}
    trigger = _workflow(True, run_id, **flow)
    code, first = await _publish(hookstream, url, "{}", trigger)
    assert code == 201
    home = await workflow_runs.partition_of_run(hookstream.conn, run_id)
    assert home == queue_partition("fk", len(partitions))
    assert first["messageId"].startswith(f"msg_{home.id_part}_")
    await sink.wait_for(1, path="/wf")
    code, step = await _publish(hookstream, url, "s1", _workflow(False, run_id))
    assert code == 201
    assert step["messageId"].startswith(f"msg_{home.id_part}_")
    _, message = await api(hookstream, "GET", f"/v2/messages/{step['messageId']}")
    assert message["flowControlKey"] == "fk"
    deliveries = await sink.wait_for(2, path="/wf")
    assert len(_steps(deliveries[-1])) == 2
    own = _workflow(False, run_id, **{"Upstash-Flow-Control-Key": "other"})
    code, answer = await _publish(
        hookstream, url, "call", own | {"Upstash-Workflow-CallType": "toCallback"}
    )
    assert code == 400
    assert "flow-control key" in answer["error"]


async def test_workflow_messages_refuse_what_runs_cannot_do_yet(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A schedule or an enqueue carrying a workflow run id is a 400, not a run that breaks."""
    headers = _workflow(True) | {"Upstash-Cron": "* * * * *"}
    code, answer = await api(
        hookstream, "POST", f"/v2/schedules/{sink.url('/wf')}", data=b"{}", headers=headers
    )
    assert code == 400
    assert "cannot be scheduled" in answer["error"]
    code, answer = await api(
        hookstream, "POST", f"/v2/enqueue/q1/{sink.url('/wf')}", data=b"{}", headers=_workflow(True)
    )
    assert code == 400
    assert "enqueued" in answer["error"]


async def test_a_trigger_that_reaches_no_workflow_app_fails_the_run(
    hookstream: Hookstream, sink: Sink
) -> None:
    """With WF_DetectTrigger, a trigger answered 200 without Upstash-Workflow-Sdk-Version
    fails its run with the SDK's error; one answered with it keeps the run going."""
    sdk = status(200, "{}", {"Upstash-Workflow-Sdk-Version": "1"})
    sink.respond = by_path({"/app": sdk})
    detect = {"Upstash-Feature-Set": "LazyFetch,InitialBody,WF_DetectTrigger"}
    await _publish(hookstream, sink.url("/plain"), "{}", _workflow(True, "wfr_plain", **detect))
    _, app = await _publish(
        hookstream, sink.url("/app"), "{}", _workflow(True, "wfr_app", **detect)
    )

    async def run(run_id: str) -> dict[str, Any]:
        _, logs = await api(
            hookstream, "GET", "/v2/workflows/logs", params={"workflowRunId": run_id}
        )
        found: dict[str, Any] = logs["runs"][0]
        return found

    async def plain_failed() -> bool:
        return (await run("wfr_plain"))["workflowState"] == "RUN_FAILED"

    await eventually(plain_failed)
    assert (await run("wfr_plain"))["workflowRunError"].startswith(
        "detected a non-workflow destination for trigger/invoke"
    )

    async def app_delivered() -> bool:
        return "DELIVERED" in await events_of(hookstream, app["messageId"])

    await eventually(app_delivered)  # settled: a wrong detection would have ended the run
    code, answer = await _publish(hookstream, sink.url("/app"), "s1", _workflow(False, "wfr_app"))
    assert code == 201, answer
    assert (await run("wfr_app"))["workflowState"] == "RUN_STARTED"


async def test_bulk_cancel_by_url_prefix_label_and_all(hookstream: Hookstream, sink: Sink) -> None:
    """client.cancel's filter forms: a workflowUrl prefix (exact with workflowUrlExactMatch),
    a label, and every running run with count alone; each answers {"cancelled": n} and
    leaves what it does not select running."""
    for name, path, label in [
        ("wfr_a1", "/orders/a", "x"),
        ("wfr_a2", "/orders/b", "y"),
        ("wfr_b1", "/billing", "y"),
        ("wfr_b2", "/billing", "z"),
    ]:
        extra = {"Upstash-Label": label}
        await _publish(hookstream, sink.url(path), "{}", _workflow(True, name, **extra))

    async def cancel(**params: str) -> Any:
        code, body = await api(hookstream, "DELETE", "/v2/workflows/runs", params=params)
        assert code == 200, body
        return body

    exact = {"workflowUrl": sink.url("/orders"), "workflowUrlExactMatch": "true"}
    assert await cancel(**exact) == {"cancelled": 0}
    assert await cancel(workflowUrl=sink.url("/orders/a")) == {"cancelled": 1}
    assert await cancel(label="y") == {"cancelled": 2}  # wfr_a2 and wfr_b1
    assert await cancel(count="100") == {"cancelled": 1}  # wfr_b2, the one left
    _, logs = await api(hookstream, "GET", "/v2/workflows/logs", params={"state": "RUN_STARTED"})
    assert logs["runs"] == []
    code, answer = await api(hookstream, "DELETE", "/v2/workflows/runs", params={"callerIp": "1"})
    assert code == 400
    assert "callerIp" in answer["error"]


async def test_logs_page_through_runs_across_partitions(redis_url: str, sink: Sink) -> None:
    """Runs spread over four partitions come out newest first, each once, page after page."""
    hs = await Hookstream(redis_url, partitions=4).start()
    try:
        for index in range(9):
            await _publish(hs, sink.url("/wf"), "{}", _workflow(True, f"wfr_p{index}"))
        seen: list[str] = []
        params = {"count": "2"}
        for _ in range(10):
            _, page = await api(hs, "GET", "/v2/workflows/events", params=params)
            seen += [run["workflowRunId"] for run in page["runs"]]
            if "cursor" not in page:
                break
            params = {"count": "2", "cursor": page["cursor"]}
        assert sorted(seen) == sorted(f"wfr_p{index}" for index in range(9))
        assert len(seen) == 9
    finally:
        await hs.stop()


async def test_a_notify_before_the_timeout_leaves_the_timeout_nothing_to_deliver(
    hookstream: Hookstream, sink: Sink
) -> None:
    """A wait with a 1 s timeout notified at once: the notified step is delivered with the
    event's data, and when the timeout message comes due it is settled without a request and
    without joining the steps; a notify of an unknown run's event is a 404."""
    url = sink.url("/wf")
    await _publish(hookstream, url, "{}", _workflow(True))
    await sink.wait_for(1, path="/wf")
    step = {"stepId": 1, "stepName": "w", "stepType": "Wait", "concurrent": 1}
    wait = {"url": url, "timeout": "1s", "timeoutUrl": url, "step": step}
    code, _ = await api(
        hookstream, "POST", "/v2/wait/evt", data=json.dumps(wait), headers=_workflow(False)
    )
    assert code == 200
    code, answers = await api(hookstream, "POST", "/v2/notify/evt", data=b'"paid"')
    assert code == 200
    assert [a["workflowRunId"] for a in answers] == [RUN]
    notified = (await sink.wait_for(2, path="/wf"))[1]
    last = json.loads(base64.b64decode(_steps(notified)[-1]["body"]))
    assert base64.b64decode(last["out"]) == b'"paid"'

    timeout_id = await _timeout_message(hookstream)

    async def timeout_settled() -> bool:
        return "DELIVERED" in await events_of(hookstream, timeout_id)

    await eventually(timeout_settled)
    assert len([r for r in sink.received if r.path == "/wf"]) == 2
    _, steps = await api(hookstream, "GET", f"/v2/workflows/runs/{RUN}")
    assert len(steps) == 2
    code, _ = await api(hookstream, "POST", "/v2/notify/wfr_other/evt", data=b"x")
    assert code == 404


async def _timeout_message(hookstream: Hookstream) -> str:
    """The id of the run's wait-timeout message (the one member never appended)."""
    home = await workflow_runs.partition_of_run(hookstream.conn, RUN)
    members = await hookstream.conn.redis.smembers(home.workflow_run(RUN)["members"])
    for member in members:
        if await hookstream.conn.redis.hexists(home.message(member.decode()), "wtev"):
            return str(member.decode())
    raise AssertionError("no timeout message")


async def test_a_worker_dying_right_after_the_dead_letter_still_fails_the_run(
    hookstream: Hookstream, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash injection: everything the worker does after a step's settle raises, as if the
    worker died there. The run still ends RUN_FAILED and its failure callback arrives once,
    because both are written by the dead-letter settle itself."""

    async def killed(*_: Any) -> None:
        raise RuntimeError("worker killed right after the settle")

    monkeypatch.setattr(worker_workflow, "settled", killed)
    sink.respond = by_path({"/wf": status(500, '{"message":"boom"}')})
    await _publish(hookstream, sink.url("/wf"), "initial", _trigger_failing_at_once(sink))
    [failure] = await sink.wait_for(1, path="/failure")
    body = json_body(failure.body)
    assert (body["workflowRunId"], base64.b64decode(body["sourceBody"])) == (RUN, b"initial")
    _, dlq = await api(hookstream, "GET", "/v2/dlq", params={"source": "workflow"})
    [entry] = dlq["messages"]
    assert body["dlqId"] == entry["dlqId"]
    run = await workflow_runs.load(hookstream.conn, RUN)
    assert run is not None
    assert run.state == workflow_runs.FAILED
    await hookstream.publish(sink.url("/after"), "x")  # a later delivery: the worker is idle
    await sink.wait_for(1, path="/after")
    assert len([r for r in sink.received if r.path == "/failure"]) == 1


async def _wait(hookstream: Hookstream, url: str, event_id: str, run_id: str = RUN) -> int:
    """The SDK's POST /v2/wait for run `run_id` (timeout 60 s, a timeout body); its status."""
    step = {"stepId": 1, "stepName": "w", "stepType": "Wait", "concurrent": 1}
    wait = {"url": url, "timeout": "60s", "timeoutUrl": url, "timeoutBody": "tb", "step": step}
    headers = _workflow(False, run_id)
    code, _ = await api(
        hookstream, "POST", f"/v2/wait/{event_id}", data=json.dumps(wait), headers=headers
    )
    return int(code)


def _out(delivery: Received) -> bytes:
    """The event data a notified step delivery carries in its last step."""
    last = json.loads(base64.b64decode(_steps(delivery)[-1]["body"]))
    return base64.b64decode(last["out"])


async def test_a_notify_by_run_id_before_the_wait_is_taken_by_the_wait(
    hookstream: Hookstream, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lookback: a notify naming the run, before the run waits, is held (a NotifyResponse
    with no waiter and no message yet); the run's wait then takes it at once: the notified
    step is delivered with the data, and no waiter or timeout message is left. The run holds
    at most MAX_HELD_EVENTS events; an unknown run is a 404."""
    monkeypatch.setattr(workflow_waits, "MAX_HELD_EVENTS", 2)
    url = sink.url("/wf")
    await _publish(hookstream, url, "{}", _workflow(True))
    await sink.wait_for(1, path="/wf")
    code, held = await api(hookstream, "POST", f"/v2/notify/{RUN}/early", data=b'"paid"')
    assert code == 200
    assert (held["workflowRunId"], held["messageId"], held["error"]) == (RUN, "", "")
    assert held["workflowCreatedAt"] > 0
    assert "waiter" not in held
    assert await _wait(hookstream, url, "early") == 200
    notified = (await sink.wait_for(2, path="/wf"))[1]
    assert _out(notified) == b'"paid"'
    with pytest.raises(AssertionError, match="no timeout message"):
        await _timeout_message(hookstream)  # the wait never registered
    _, listed = await api(hookstream, "GET", "/v2/waiters/early")
    assert listed == []

    for event in ("a", "b"):
        code, _ = await api(hookstream, "POST", f"/v2/notify/{RUN}/{event}", data=b"x")
        assert code == 200
    code, full = await api(hookstream, "POST", f"/v2/notify/{RUN}/c", data=b"x")
    assert code == 400
    assert "holds 2 events" in full["error"]
    code, _ = await api(hookstream, "POST", "/v2/notify/wfr_unknown/early", data=b"x")
    assert code == 404


async def test_get_waiters_lists_the_runs_waiting_for_an_event(
    hookstream: Hookstream, sink: Sink
) -> None:
    """GET /v2/waiters/{eventId}: one Waiter per waiting run (url, deadline in seconds, the
    delivery headers, timeoutUrl, timeoutBody, timeoutHeaders); none once a notify took them,
    and none for an event nobody waits for."""
    url = sink.url("/wf")
    runs = [RUN, "wfr_test-run-2"]
    for run_id in runs:
        await _publish(hookstream, url, "{}", _workflow(True, run_id))
    await sink.wait_for(2, path="/wf")
    before = await hookstream.conn.now_ms() // 1000
    for run_id in runs:
        assert await _wait(hookstream, url, "shared", run_id) == 200
    code, listed = await api(hookstream, "GET", "/v2/waiters/shared")
    assert code == 200
    assert len(listed) == 2
    for waiter in listed:
        assert (waiter["url"], waiter["timeoutUrl"], waiter["timeoutBody"]) == (url, url, "tb")
        assert before + 59 <= waiter["deadline"] <= before + 62
        assert waiter["headers"]["Upstash-Workflow-Sdk-Version"] == ["1"]
        assert waiter["timeoutHeaders"] == waiter["headers"]
    code, answers = await api(hookstream, "POST", "/v2/notify/shared", data=b"go")
    assert sorted(a["workflowRunId"] for a in answers) == sorted(runs)
    assert all(a["waiter"]["url"] == url for a in answers)
    _, listed = await api(hookstream, "GET", "/v2/waiters/shared")
    assert listed == []
    code, none = await api(hookstream, "GET", "/v2/waiters/nobody")
    assert (code, none) == (200, [])
