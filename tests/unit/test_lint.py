"""ruff (configured in pyproject.toml) finds nothing, like `make lint`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff_is_clean(command: list[str]) -> None:
    """Lint and formatting stay clean, so CI (make test) catches a regression."""
    if importlib.util.find_spec("ruff") is None:
        message = "ruff is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
