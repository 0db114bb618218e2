"""Which deliveries the worker runs through workers/workflow.py: a run's messages and the
reports to a run, never a plain message (it skips `prepare` and `settled` for those)."""

from __future__ import annotations

import pytest

from broker.queue.model import FAILURE_CALL, Envelope
from broker.queue.workflow_link import REPORT
from workers.workflow import is_involved


def envelope(run_id: str | None = None, call_type: str | None = None) -> Envelope:
    return Envelope(
        id="msg_0_x",
        url="http://127.0.0.1:1/",
        created_at=0,
        not_before=0,
        workflow_run_id=run_id,
        workflow_call_type=call_type,
    )


def test_a_plain_message_is_not_involved() -> None:
    assert not is_involved(envelope())


@pytest.mark.parametrize(
    ("run_id", "call_type"),
    [("wfr_1", "step"), ("wfr_1", None), ("wfr_1", FAILURE_CALL), (None, REPORT)],
)
def test_a_runs_messages_and_reports_to_a_run_are(
    run_id: str | None, call_type: str | None
) -> None:
    assert is_involved(envelope(run_id, call_type))
