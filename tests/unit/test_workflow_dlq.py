"""Pieces of the workflow DLQ (broker/queue/workflow_dlq.py) that need no server."""

from __future__ import annotations

import re
from importlib import resources

from broker.queue import scripts
from broker.queue.keys import partition_keys, run_partition
from broker.queue.workflow_dlq import fresh_run_id

FOLDER = resources.files("broker.queue") / "scripts"


def test_the_restart_guard_binds_every_name_the_trigger_body_reads() -> None:
    """workflow_dlq_restart runs workflow_trigger.lua's body after its own (`continues`): a
    name the trigger reads that the restart did not declare would be nil in Redis."""
    script = scripts.WORKFLOW_DLQ_RESTART
    body = (FOLDER / f"{script.continues}.lua").read_text()
    assert set(re.findall(r"\bKEY\.(\w+)", body)) <= set(script.key_names)
    assert set(re.findall(r"\bARG\.(\w+)", body)) <= set(script.arg_names)
    assert script.source().endswith(body)


def test_a_fresh_run_id_lives_in_the_partition_asked_for() -> None:
    """Restart's new run shares its partition with the entry it replaces (one script)."""
    for index in range(8):
        partition = partition_keys(index, 8)
        run_id = fresh_run_id(partition, 8)
        assert run_partition(run_id, 8) == partition
        assert re.fullmatch(r"wfr_[A-Za-z0-9_-]{21}", run_id)
    assert fresh_run_id(partition_keys(0, 8), 8) != fresh_run_id(partition_keys(0, 8), 8)
