"""The arithmetic of `make bench-cluster`'s table: per-master deltas and the client ratio."""

from __future__ import annotations

from typing import Any

from bench.cluster_spread import matrix, per_master


def _stats(cpu: float, evalsha: int, errors: int = 0) -> dict[str, float]:
    return {"cpu": cpu, "evalsha": evalsha, "routing_errors": errors}


def test_per_master_spends_only_what_the_run_added() -> None:
    before = [_stats(10.0, 500, 1), _stats(2.0, 0), _stats(0.5, 100)]
    after = [_stats(10.3, 1500, 1), _stats(2.1, 1000, 2), _stats(0.6, 1100)]
    found = per_master(before, after, deliveries=2000)
    # 0.3 s over 2,000 deliveries = 150 ms per 1,000; counters from before the run drop out.
    assert [m["server_cpu_ms_per_1k"] for m in found] == [150.0, 50.0, 50.0]
    assert [m["evalsha"] for m in found] == [1000, 1000, 1000]
    assert [m["evalsha_share"] for m in found] == [0.333, 0.333, 0.333]
    assert [m["routing_errors"] for m in found] == [0, 2, 0]


def test_per_master_without_script_calls_has_no_share() -> None:
    assert per_master([_stats(1.0, 7)], [_stats(1.0, 7)], deliveries=0)[0]["evalsha_share"] == 0


def _cell(workers: int, cpu_s_per_1000: float, masters: int) -> dict[str, Any]:
    master = {"server_cpu_ms_per_1k": 40.0, "evalsha_share": 1 / masters, "routing_errors": 0}
    return {
        "workers": workers,
        "drain": {"per_second": 1000.0, "cpu_s_per_1000": cpu_s_per_1000},
        "paced": {"p50_ms": 2.0, "p99_ms": 9.0},
        "masters": [master] * masters,
        "idle_commands_per_s": 100.0,
    }


def test_client_cpu_is_compared_with_the_single_node_at_the_same_worker_count() -> None:
    results = {
        "1 node": [_cell(1, 0.5, 1), _cell(2, 0.8, 1)],
        "3 masters": [_cell(1, 0.6, 3), _cell(2, 0.8, 3)],
    }
    rows = dict(matrix(results))
    assert rows["worker CPU / 1 node's"] == ["1", "1", "1.2", "1"]
    assert rows["worker CPU ms/1,000"] == ["500", "800", "600", "800"]
    assert rows["EVALSHA share % per master"] == ["100", "100", "33 / 33 / 33", "33 / 33 / 33"]
    assert rows["server CPU ms/1,000, per master"][2] == "40 / 40 / 40"
