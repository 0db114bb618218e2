"""The Grafana dashboard: generated from deploy/grafana/generate.py, linted like dashboard-linter.

The lint rules follow grafana/dashboard-linter (template-datasource, panel-datasource,
panel-title-description, panel-units, panel-no-targets, target-rate-interval, target-job,
target-counter-agg), which cannot be installed here, plus our metric catalogue.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

DS = {"type": "prometheus", "uid": "${datasource}"}
RANGE = re.compile(r"\[([^\]]*)\]")
RATE_FN = re.compile(r"\b(?:rate|irate|increase)\(")


@pytest.fixture(scope="module")
def generator(repo):
    spec = importlib.util.spec_from_file_location(
        "dashboard_generator", repo / "deploy/grafana/generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dashboard(repo):
    return json.loads((repo / "deploy/helm/hookstream/files/grafana/hookstream.json").read_text())


@pytest.fixture(scope="module")
def panels(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _targets(panels):
    return [(p["title"], t) for p in panels for t in p["targets"]]


def test_committed_json_equals_generator_output(generator, repo):
    """The committed JSON is what generate.py produces (run it after editing the generator)."""
    assert repo / "deploy/helm/hookstream/files/grafana/hookstream.json" == generator.OUT
    assert generator.OUT.read_text() == generator.render()


def test_grafana_folder_links_to_the_chart_copy(repo):
    """deploy/grafana/hookstream.json is the chart's file, not a second copy."""
    link = repo / "deploy/grafana/hookstream.json"
    assert link.resolve() == repo / "deploy/helm/hookstream/files/grafana/hookstream.json"


def test_dashboard_is_provisioned_code(dashboard):
    """Stable uid, read-only, a recent schema, tags."""
    assert dashboard["uid"] == "hookstream-overview"
    assert dashboard["editable"] is False
    assert dashboard["schemaVersion"] >= 36
    assert "hookstream" in dashboard["tags"]


def test_variables(dashboard):
    """One datasource variable; namespace and job query variables refresh on time change."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert [v["name"] for v in variables.values() if v["type"] == "datasource"] == ["datasource"]
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "job"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DS
        assert variables[name]["refresh"] == 2
    assert variables["job"]["multi"]
    assert variables["job"]["includeAll"]


def test_every_panel_is_described_with_a_unit_and_the_datasource_variable(panels):
    """Each panel has a title, a description, a unit, targets, and uses ${datasource}."""
    for panel in panels:
        assert panel["title"]
        assert panel["description"], panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert panel["datasource"] == DS, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == DS for t in panel["targets"]), panel["title"]


def test_panels_have_unique_ids_and_fit_the_grid(dashboard):
    """Panel ids are unique and every panel lies within the 24-column grid."""
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]


def test_every_range_is_rate_interval(panels):
    """rate()/increase() ranges are $__rate_interval, never a fixed window."""
    for title, target in _targets(panels):
        ranges = RANGE.findall(target["expr"])
        assert ranges == ["$__rate_interval"] * len(RATE_FN.findall(target["expr"])), (
            title,
            target["expr"],
        )


def test_every_selector_filters_namespace_and_job(panels, promql):
    """Every hookstream selector carries the namespace and job variables."""
    for title, target in _targets(panels):
        for series, matchers, _ in promql.selectors(target["expr"]):
            assert {"namespace", "job"} <= matchers, (title, series)
        assert '$namespace"' in target["expr"], title
        assert '$job"' in target["expr"], title


def test_queries_use_catalogued_metrics_correctly(panels, promql):
    """Panels use catalogued metrics and labels, rate() counters, and max() replicated gauges."""
    problems = {
        f"{title} / {t['legendFormat']}": promql.problems(t["expr"])
        for title, t in _targets(panels)
    }
    assert {name: p for name, p in problems.items() if p} == {}


def test_dashboard_covers_the_catalogue(panels, catalogue):
    """Every catalogued metric appears on some panel, so nothing exposed goes unwatched."""
    exprs = " ".join(t["expr"] for _, t in _targets(panels))
    assert [name for name in catalogue if name not in exprs] == []
