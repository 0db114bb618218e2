"""One table for the terminal, one JSON file for the record."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    """Rows for the table plus the raw numbers of each scenario for the JSON file."""

    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        scenario: str,
        metric: str,
        value: float,
        unit: str = "",
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        self.rows.append(Row(scenario, metric, value, unit, target, ok))

    def table(self) -> str:
        header = ("scenario", "metric", "value", "unit", "target", "")
        lines = [header] + [
            (r.scenario, r.metric, number(r.value), r.unit, r.target, _verdict(r.ok))
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        aligned = [
            "  ".join(cell.rjust(w) if i == 2 else cell.ljust(w) for i, (cell, w) in
                      enumerate(zip(line, widths, strict=True))).rstrip()
            for line in lines
        ]  # fmt: skip
        return "\n".join([aligned[0], "-" * len(aligned[0]), *aligned[1:]])

    def write(self, folder: Path, extra: dict[str, Any]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
        document = {
            "machine": _machine(),
            **extra,
            "rows": [r.__dict__ for r in self.rows],
            "scenarios": self.data,
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        return path


def number(value: float) -> str:
    """A table cell: thousands separators, three significant digits below 100."""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def _verdict(ok: bool | None) -> str:
    return {True: "ok", False: "MISS", None: ""}[ok]


def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "commit": commit,
        "loadavg_at_end": [round(x, 2) for x in load],
    }
