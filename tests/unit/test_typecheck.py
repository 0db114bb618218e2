"""mypy --strict (configured in pyproject.toml) stays at zero errors, like `make typecheck`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_reports_no_errors() -> None:
    """The three packages type-check cleanly; mypy's cache (.mypy_cache) keeps reruns quick."""
    if importlib.util.find_spec("mypy") is None:
        message = "mypy is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
