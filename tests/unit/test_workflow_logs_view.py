"""The workflow logs view (broker/http/views.py workflow_run_view) for the message states a
real run passes too quickly to observe: a retrying step, a failure callback that is retrying,
or whose record is gone."""

from __future__ import annotations

import base64
import json

import msgspec

from broker.http.views import workflow_run_view
from broker.queue.keys import PartitionKeys, ulid
from broker.queue.model import CallbackSpec, Envelope, Response, State
from broker.queue.store import StoredMessage
from broker.queue.workflow_progress import Pending, Progress
from broker.queue.workflow_runs import FAILED, RUNNING, RawStep, Run, RunConfig

CREATED_MS = 1_700_000_000_000
FAILING = Response(status=503, headers={"Retry-After": ["1"]}, body=b"busy")


def _id(ms: int) -> str:
    return f"msg_{PartitionKeys(0, None).id_part}_{ulid(ms)}"


def _run(state: str, *steps: RawStep) -> Run:
    config = RunConfig(
        url="http://app/wf",
        retries=4,
        retry_delay="1000",
        timeout_ms=1000,
        failure_callback=CallbackSpec(url="http://app/wf"),
    )
    return Run(
        run_id="wfr_unit",
        state=state,
        config=config,
        created_at=CREATED_MS,
        ended_at=None,
        result=None,
        error=None,
        steps=list(steps),
    )


def _stored(message_id: str, state: State, last: Response | None) -> StoredMessage:
    envelope = Envelope(
        id=message_id, url="http://app/wf", retries=4, created_at=CREATED_MS, not_before=0
    )
    return StoredMessage(envelope, None, state, 2, last, None)


def _shown(run: Run, progress: Progress) -> dict[str, object]:
    shown: dict[str, object] = json.loads(msgspec.json.encode(workflow_run_view(run, progress)))
    return shown


def test_a_retrying_step_is_step_retry_with_its_last_answer() -> None:
    """A step message in RETRY: the next group says STEP_RETRY with its retries and the last
    answer as its error; the finished steps carry the time of their message ids."""
    initial, step = _id(CREATED_MS), _id(CREATED_MS + 250)
    body = base64.b64encode(b'{"stepId":1,"stepName":"a","stepType":"Run","out":"x"}').decode()
    run = _run(
        RUNNING,
        RawStep(initial, base64.b64encode(b"{}").decode(), "step"),
        RawStep(step, body, "step"),
    )
    progress = Progress([Pending(step, _stored(step, State.RETRY, FAILING))])
    shown = _shown(run, progress)
    groups = shown["steps"]
    assert isinstance(groups, list)
    assert [s["createdAt"] for g in groups[:2] for s in g["steps"]] == [
        CREATED_MS,
        CREATED_MS + 250,
    ]
    assert groups[-1] == {
        "type": "next",
        "steps": [
            {
                "messageId": step,
                "state": "STEP_RETRY",
                "retries": 4,
                "errors": [
                    {"error": "HTTP 503", "body": "busy", "headers": FAILING.headers, "status": 503}
                ],
            }
        ],
    }


def test_a_retrying_failure_callback_is_in_progress_with_its_error() -> None:
    """The failure callback retrying: CALLBACK_INPROGRESS with its last answer; the failed
    step's own answer in failStatus and failResponse."""
    step, callback = _id(CREATED_MS), _id(CREATED_MS + 1)
    failed = _stored(step, State.FAILED, Response(status=500, body=b"boom"))
    progress = Progress(
        [Pending(step, failed)],
        dlq_id="1-0.0",
        failed_step=failed,
        failure_id=callback,
        failure=_stored(callback, State.RETRY, FAILING),
    )
    shown = _shown(_run(FAILED), progress)
    assert shown["dlqId"] == "1-0.0"
    assert shown["failureFunction"] == {
        "messageId": callback,
        "url": "http://app/wf",
        "state": "CALLBACK_INPROGRESS",
        "failHeaders": {},
        "failStatus": 500,
        "failResponse": "boom",
        "dlqId": "1-0.0",
        "errors": [
            {"error": "HTTP 503", "body": "busy", "headers": FAILING.headers, "status": 503}
        ],
    }


def test_a_failure_callback_whose_record_is_gone_counts_as_delivered() -> None:
    """Past the delivered retention the callback's record is gone: CALLBACK_SUCCESS; with
    no failure callback recorded there is no failureFunction at all (negative control)."""
    callback = _id(CREATED_MS)
    gone = Progress([], dlq_id="1-0.0", failure_id=callback, failure=None)
    assert _shown(_run(FAILED), gone)["failureFunction"]["state"] == "CALLBACK_SUCCESS"  # type: ignore[index]
    assert "failureFunction" not in _shown(_run(FAILED), Progress([], dlq_id="1-0.0"))
