"""Rendered manifests: Kubernetes schemas, CRD schemas, and the plain copy for kustomize.

No API server can run here, so these are offline schema checks: kubernetes-validate (the
upstream OpenAPI schemas, strict = unknown fields are errors) for built-in kinds, and the
@kubernetes-models npm packages for KEDA and Prometheus Operator kinds.
"""

from __future__ import annotations

import importlib.util
import subprocess

import pytest
import yaml

# The chart's kubeVersion floor and the newest schemas kubernetes-validate ships: catches both
# APIs that are too new for old clusters and APIs removed from new ones.
KUBE_VERSIONS = ("1.25.0", "1.37.0")
CUSTOM_KINDS = {
    "ScaledObject",
    "TriggerAuthentication",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
}


@pytest.fixture(scope="module")
def render_script(repo, helm):
    spec = importlib.util.spec_from_file_location("render_manifests", repo / "deploy/render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_manifests_equal_a_fresh_render(render_script):
    """deploy/kubernetes/ is exactly what deploy/render.py makes from the chart now."""
    assert render_script.stale(render_script.render_files()) == [], "run: python3 deploy/render.py"


def test_plain_manifests_build_with_kustomize(kubectl, repo):
    """`kubectl kustomize deploy/kubernetes` builds, with the three Deployments in it."""
    result = subprocess.run(
        [kubectl, "kustomize", str(repo / "deploy/kubernetes")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout) if d]
    assert kinds.count("Deployment") == 3


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_built_in_kinds_match_kubernetes_schemas(kubernetes_validate, rendered_dir, version):
    """Every built-in object of every ci/ case validates strictly against Kubernetes' schemas."""
    errors = []
    for path in sorted(rendered_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] in CUSTOM_KINDS:
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert errors == []


def test_custom_resources_match_their_crds(crd_validator, rendered_dir):
    """ScaledObject, TriggerAuthentication, ServiceMonitor, PodMonitor, PrometheusRule validate."""
    files = sorted(str(p) for p in rendered_dir.glob("*.yaml"))
    result = subprocess.run([*crd_validator, *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = {
        line.split(": ")[1].split("/")[0]
        for line in result.stdout.splitlines()
        if line.startswith("ok")
    }
    assert checked == CUSTOM_KINDS, "every custom kind should appear in some ci/ case"
