"""`make test` (bare pytest) runs every tier: a test folder missing from `testpaths` would
pass CI without ever running (tests/workflow once did)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_with_tests_is_a_tier() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tiers = config["tool"]["pytest"]["ini_options"]["testpaths"]
    with_tests = {
        folder.relative_to(ROOT).as_posix()
        for folder in (ROOT / "tests").iterdir()
        if any(folder.rglob("test_*.py"))
    }
    assert with_tests == set(tiers)
    assert tiers[0] == "tests/unit"  # the fast tier first, so a failure shows early
