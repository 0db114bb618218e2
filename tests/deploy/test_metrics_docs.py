"""The metric list of docs/operations.md is the catalogue (tests/deploy/metrics.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROW = re.compile(r"^\| `(hookstream_\w+)` \| ([^|]+) \|", re.MULTILINE)


def _documented(repo: Path) -> dict[str, str]:
    """Metric name -> its type cell, from the table under "## Metrics"."""
    text = (repo / "docs" / "operations.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return {name: kind.strip() for name, kind in ROW.findall(section)}


def test_operations_lists_every_catalogued_metric_with_its_type(
    repo: Path, catalogue: dict[str, Any]
) -> None:
    """Each catalogued metric has a row in docs/operations.md with its type, and the table
    names no metric the code does not export."""
    documented = _documented(repo)
    assert sorted(documented) == sorted(catalogue)
    wrong = {
        name: (kind, catalogue[name]["type"])
        for name, kind in documented.items()
        if not kind.startswith(catalogue[name]["type"])
    }
    assert wrong == {}


def test_replicated_gauges_are_documented_as_such(repo: Path, catalogue: dict[str, Any]) -> None:
    """The gauges every worker reports identically say so, since queries must take max()."""
    documented = _documented(repo)
    replicated = sorted(n for n, m in catalogue.items() if m.get("replicated"))
    assert replicated
    assert sorted(n for n, kind in documented.items() if "replicated" in kind) == replicated
