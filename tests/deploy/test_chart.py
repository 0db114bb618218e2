"""The Helm chart: lint, render every ci/ values set, and assert on the rendered objects.

This is our stand-in for helm-unittest (no helm binary here): helm-python-sdk embeds Helm's Go
SDK, so lint, schema validation and rendering are Helm's own. Autoscaling is checked in
test_chart_scaling.py, monitoring and network policies in test_chart_integrations.py.
"""

from __future__ import annotations

import pytest
import yaml


def test_lint_is_clean_for_every_case(helm, chart, case):
    """`helm lint --strict` reports no warning or error with each values set."""
    result = helm.lint(str(chart.dir), chart.values(case), strict=True)
    assert not result["errors"], result
    assert [m for m in result["messages"] if m["severity"] > 1] == [], result


def test_every_object_has_the_release_labels(chart, case):
    """Every rendered object carries the standard name/instance labels."""
    for doc in chart.render_case(case):
        labels = doc["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == chart.release, doc["metadata"]["name"]
        assert labels.get("app.kubernetes.io/name") == "hookstream", doc["metadata"]["name"]


@pytest.mark.parametrize("role", ["ingress", "worker", "scheduler"])
def test_pods_are_locked_down_and_probed(chart, case, role):
    """Each role runs non-root (uid 10001), read-only, no capabilities, with health probes."""
    pod = chart.deployment(chart.render_case(case), role)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["args"] == [role]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    port = "http" if role == "ingress" else "metrics"
    assert [p["name"] for p in container["ports"]] == [port]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_ports_follow_the_settings(chart):
    """Container ports come from HOOKSTREAM_PORT and HOOKSTREAM_METRICS_PORT."""
    values = chart.values("default")
    values["config"] = {
        **_defaults(chart)["config"],
        "HOOKSTREAM_PORT": "8000",
        "HOOKSTREAM_METRICS_PORT": "9100",
    }
    docs = chart.render(values)
    ports = {
        role: chart.deployment(docs, role)["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        for role in chart.roles
    }
    assert ports["ingress"]["containerPort"] == 8000
    assert ports["worker"]["containerPort"] == ports["scheduler"]["containerPort"] == 9100


@pytest.mark.parametrize(("grace", "expected"), [("25s", 30), ("2m", 125), ("40", 45)])
def test_worker_grace_period_is_shutdown_grace_plus_5s(chart, grace, expected):
    """terminationGracePeriodSeconds = HOOKSTREAM_SHUTDOWN_GRACE + 5 s, for any unit."""
    config = {**_defaults(chart)["config"], "HOOKSTREAM_SHUTDOWN_GRACE": grace}
    docs = chart.render_case("default", config=config)
    assert (
        chart.deployment(docs, "worker")["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        == expected
    )


def test_default_grace_period_matches_values(chart):
    """With default values the worker gets 25 s + 5 s."""
    spec = chart.deployment(chart.render_case("default"), "worker")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 30


def test_config_map_carries_every_setting_and_pods_roll_on_change(chart):
    """The ConfigMap holds the config block plus REDIS_URL; pods hash it into an annotation."""
    values = chart.values("default")
    docs = chart.render(values)
    data = chart.one(docs, "ConfigMap", chart.fullname)["data"]
    assert set(data) == set(_defaults(chart)["config"]) | {"REDIS_URL"}
    assert data["REDIS_URL"] == values["redis"]["url"]
    before = chart.deployment(docs, "worker")["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"
    ]
    changed = chart.render_case(
        "default", config={**_defaults(chart)["config"], "HOOKSTREAM_LOG_LEVEL": "debug"}
    )
    after = chart.deployment(changed, "worker")["spec"]["template"]["metadata"]["annotations"][
        "checksum/config"
    ]
    assert before != after


def test_chart_secret_holds_tokens_and_only_given_keys(chart):
    """The chart's Secret has the tokens and leaves unset signing keys out (generated in Redis)."""
    docs = chart.render_case("default")
    secret = chart.one(docs, "Secret", chart.fullname)
    assert set(secret["stringData"]) == {"HOOKSTREAM_TOKENS"}
    for role in chart.roles:
        env_from = chart.deployment(docs, role)["spec"]["template"]["spec"]["containers"][0][
            "envFrom"
        ]
        # The Secret comes last so that its REDIS_URL wins over the ConfigMap's.
        assert env_from == [
            {"configMapRef": {"name": chart.fullname}},
            {"secretRef": {"name": chart.fullname}},
        ]


def test_chart_secret_holds_read_only_tokens_when_given(chart):
    """secret.readonlyTokens goes into the Secret as HOOKSTREAM_READONLY_TOKENS, like tokens."""
    values = chart.values("default")
    docs = chart.render_case("default", secret={**values["secret"], "readonlyTokens": "ro-1"})
    secret = chart.one(docs, "Secret", chart.fullname)
    assert secret["stringData"]["HOOKSTREAM_READONLY_TOKENS"] == "ro-1"
    assert (
        chart.one(docs, "ConfigMap", chart.fullname)["data"]
        .keys()
        .isdisjoint({"HOOKSTREAM_TOKENS", "HOOKSTREAM_READONLY_TOKENS"})
    )


def test_existing_secret_replaces_the_chart_secret(chart):
    """With secret.existingSecret no Secret is rendered and every role reads the given one."""
    docs = chart.render_case("existing-secret")
    assert chart.find(docs, "Secret") == []
    name = chart.values("existing-secret")["secret"]["existingSecret"]
    for role in chart.roles:
        container = chart.deployment(docs, role)["spec"]["template"]["spec"]["containers"][0]
        assert {"secretRef": {"name": name}} in container["envFrom"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis": {"url": "redis://r:6379/0"}}, "secret.tokens"),
        ({"secret": {"tokens": "t"}}, "redis.url"),
        (
            {
                "secret": {"tokens": "t"},
                "redis": {"url": "redis://r:6379/0"},
                "metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}},
            },
            "not both",
        ),
        (
            {"secret": {"existingSecret": "s"}, "worker": {"autoscaling": {"mode": "keda"}}},
            "redisAddress",
        ),
        (
            {
                "secret": {"tokens": "t"},
                "redis": {"url": "redis://r:6379/0"},
                "worker": {"autoscaling": {"mode": "keda", "keda": {"trigger": "prometheus"}}},
            },
            "serverAddress",
        ),
    ],
)
def test_incomplete_values_fail_with_a_clear_message(chart, helm, values, message):
    """Missing tokens, Redis, KEDA or Prometheus address, or two monitors, stop the render."""
    with pytest.raises(helm.HelmError, match=message):
        chart.render(values)


@pytest.mark.parametrize(
    "values",
    [
        {"worker": {"autoscaling": {"mode": "kdea"}}},
        {"config": {"HOOKSTREAM_PARTITON": "4"}},
        {"config": {"HOOKSTREAM_SHUTDOWN_GRACE": "1.5s"}},
        {"config": {"HOOKSTREAM_LOG_FORMAT": "xml"}},
        {"config": {"HOOKSTREAM_RATE_LIMIT": "100 per second"}},
        {"redis": {"url": "localhost:6379"}},
    ],
)
def test_schema_rejects_bad_values(chart, helm, values):
    """values.schema.json rejects unknown enums, misspelt settings and malformed values."""
    base = {"secret": {"tokens": "t"}, "redis": {"url": "redis://r:6379/0"}}
    with pytest.raises(helm.HelmValuesError):
        chart.render({**base, **values})


def test_pdbs_never_block_a_drain(chart):
    """Each role has a PodDisruptionBudget with maxUnavailable, so 1 replica can still move."""
    docs = chart.render_case("default")
    pdbs = {d["metadata"]["name"]: d["spec"] for d in chart.find(docs, "PodDisruptionBudget")}
    assert set(pdbs) == {f"{chart.fullname}-{role}" for role in chart.roles}
    assert all(spec["maxUnavailable"] == 1 and "minAvailable" not in spec for spec in pdbs.values())


def test_helm_test_pod_checks_readyz(chart):
    """`helm test` runs a pod that fetches /readyz through the API Service."""
    pod = chart.one(chart.render_case("default"), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["command"][-1] == f"http://{chart.fullname}:80/readyz"


def _defaults(chart):
    return yaml.safe_load((chart.dir / "values.yaml").read_text())
