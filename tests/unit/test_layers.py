"""The import rules of the layers, checked on the source: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package (or module prefix) → prefixes it must never import. Entry points (`__main__`) only
# call hookstream.cli and are not part of the graph.
FORBIDDEN = {
    "broker": ("workers", "scheduler", "hookstream"),
    "broker.queue": ("broker.http", "broker.options", "workers", "scheduler", "hookstream"),
    "workers": ("broker.http", "scheduler", "hookstream"),
    "scheduler": ("broker.http", "workers", "hookstream"),
}


def _modules() -> dict[str, set[str]]:
    """Every product module's name → the modules it imports (absolute names)."""
    graph = {}
    for package in ("broker", "workers", "scheduler", "hookstream"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "__main__.py":
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            graph[name.removesuffix(".__init__")] = _imports(path)
    return graph


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offences(graph: dict[str, set[str]], layer: str) -> list[str]:
    return sorted(
        f"{module} imports {imported}"
        for module, imports in graph.items()
        if _within(module, layer)
        for imported in imports
        for banned in FORBIDDEN[layer]
        if _within(imported, banned)
    )


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    """No module of `layer` imports a layer it must not know."""
    assert _offences(_modules(), layer) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """Negative control: imports the rules forbid, in either import form, are reported."""
    source = tmp_path / "tick.py"
    source.write_text("from broker.http.destination import is_url\nimport workers.worker\n")
    graph = {"scheduler.tick": _imports(source)}
    assert _offences(graph, "scheduler") == [
        "scheduler.tick imports broker.http.destination",
        "scheduler.tick imports broker.http.destination.is_url",
        "scheduler.tick imports workers.worker",
    ]
