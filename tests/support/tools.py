"""Running the project's dev tools (mypy, ruff) from tests, so `make test` enforces them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def run_tool(module: str, *args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` from the repo root; skips on a laptop without the tool and
    fails under CI=true, where the dev extra is always installed."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed (pip install -e '.[dev]')"
        if IN_CI:
            pytest.fail(message + "; it is required when CI=true")
        pytest.skip(message)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
