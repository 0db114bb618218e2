"""mypy --strict (configured in pyproject.toml) stays at zero errors, like `make typecheck`."""

from __future__ import annotations

from tests.support.tools import run_tool


def test_mypy_reports_no_errors() -> None:
    """The three packages type-check cleanly; mypy's cache (.mypy_cache) keeps reruns quick."""
    result = run_tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
