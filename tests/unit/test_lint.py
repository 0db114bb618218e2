"""ruff (configured in pyproject.toml) finds nothing, like `make lint`."""

from __future__ import annotations

import pytest

from tests.support.tools import run_tool


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(command: list[str]) -> None:
    """Lint and formatting stay clean, so CI (make test) catches a regression."""
    result = run_tool("ruff", *command, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
