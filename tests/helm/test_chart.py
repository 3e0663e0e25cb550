"""Helm chart checks with the real Helm library (helm-python-sdk) and kubernetes-validate.

    python tests/helm/test_chart.py
Prints one line per check and a final "N passed, N failed" line; exits non-zero on failure.
"""
import json
import os
import sys

import yaml  # PyYAML comes with kubernetes-validate
import helm_python as helm
import kubernetes_validate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(REPO, "charts", "osmops")
KUBE_VERSION = "1.33.0"
# Kinds kubernetes-validate has no schema for (CRD-defined elsewhere).
NOT_IN_KUBERNETES = {"ServiceMonitor"}

ALL_ON = {
    "replicaCount": 2,
    "leaderElection": {"enabled": True},
    "controller": {"watchNamespace": "flux-system", "noCrossNamespaceRefs": True, "logFormat": "console",
                   "extraEnv": [{"name": "SOURCE_CONTROLLER_LOCALHOST", "value": "localhost:9090"}]},
    "grpc": {"enabled": True, "tls": {"enabled": True, "secretName": "osmops-grpc-tls", "mutual": True},
             "auth": {"enabled": True, "tokenSecretName": "osmops-grpc-token"}},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Flux"}},
    "tracing": {"otlpEndpoint": "https://otel-collector.monitoring:4318", "serviceName": "osmops-prod",
                "caSecretName": "otel-ca"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "nfv", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
    "imagePullSecrets": [{"name": "registry"}],
}

results = []


def check(name, fn):
    try:
        fn()
        results.append((name, None))
        print(f"ok    {name}")
    except Exception as e:  # noqa: BLE001 - report every failure, keep going
        results.append((name, e))
        print(f"FAIL  {name}: {e}")


def render(values):
    chart = helm.Chart.load(CHART)
    out = chart.render(values, name="osmops", namespace="osmops-system", is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append((path, doc))
    return docs


def lint_strict():
    for values in (None, ALL_ON):
        report = helm.lint(CHART, values, strict=True, kube_version="v" + KUBE_VERSION)
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
        assert not problems, json.dumps(problems, indent=1)


def validate_all(values):
    def run():
        docs = render(values)
        assert docs, "nothing rendered"
        for path, doc in docs:
            if doc["kind"] in NOT_IN_KUBERNETES:
                assert doc["apiVersion"] == "monitoring.coreos.com/v1"
                continue
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    return run


def by_kind(docs, kind):
    return [d for _, d in docs if d["kind"] == kind]


def security_defaults():
    docs = render(None)
    (dep,) = by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), "writable /tmp for artifacts"
    assert "--enable-leader-election=true" in c["args"]
    env = {e["name"] for e in c["env"]}
    assert {"POD_NAME", "POD_NAMESPACE", "RUNTIME_NAMESPACE"} <= env, env
    ports = {p["name"] for p in c["ports"]}
    assert ports == {"metrics", "health", "grpc"}, ports
    (svc,) = by_kind(docs, "Service")
    assert {p["name"] for p in svc["spec"]["ports"]} == {"metrics", "grpc"}
    assert not by_kind(docs, "ServiceMonitor"), "ServiceMonitor is optional"


def rbac_least_privilege():
    for values in (None, ALL_ON):
        docs = render(values)
        roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
        assert roles
        for r in roles:
            for rule in r["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule.get(field, []), f"wildcard in {r['kind']} {r['metadata']['name']}: {rule}"
        rules = [rule for r in roles for rule in r["rules"]]
        secrets = [rule for rule in rules if "secrets" in rule["resources"]]
        assert secrets and all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in secrets)
        assert any("osmsyncs/status" in rule["resources"] for rule in rules)
        assert any("osmsyncs/finalizers" in rule["resources"] for rule in rules)
        assert any("leases" in rule["resources"] for rule in rules)
    docs = render(ALL_ON)
    assert not by_kind(docs, "ClusterRoleBinding"), "a watched namespace needs no cluster-wide grant"
    # Secrets and ConfigMaps (credentials, substituteFrom): get, plus list/watch only for the
    # label watch; with a watched namespace, in that namespace's Role only.
    def config_verbs(docs):
        rules = [rule for r in by_kind(docs, "ClusterRole") + by_kind(docs, "Role") for rule in r["rules"]]
        return [set(rule["verbs"]) for rule in rules if "secrets" in rule["resources"] and "configmaps" in rule["resources"]]
    assert config_verbs(render(None)) == [{"get", "list", "watch"}]
    assert config_verbs(render({"controller": {"watchConfigsLabelSelector": ""}})) == [{"get"}]
    (role,) = by_kind(docs, "Role")[:1]
    assert any("secrets" in rule["resources"] for rule in role["rules"]) and role["metadata"]["namespace"] == "flux-system"


def all_features_wired():
    docs = render(ALL_ON)
    (dep,) = by_kind(docs, "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    for a in ["--grpc-tls-cert=/etc/osmops/grpc-tls/tls.crt", "--grpc-client-ca=/etc/osmops/grpc-tls/ca.crt",
              "--grpc-token-file=/etc/osmops/grpc-auth/token", "--no-cross-namespace-refs", "--log-encoding=console"]:
        assert a in args, (a, args)
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["WATCH_NAMESPACE"] == "flux-system"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otel-collector.monitoring:4318"
    assert env["OTEL_EXPORTER_OTLP_CERTIFICATE"] == "/etc/osmops/otlp-ca/ca.crt"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["otlp-ca"] == "/etc/osmops/otlp-ca", mounts
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["otlp-ca"]["secret"]["secretName"] == "otel-ca", vols
    assert env["OTEL_SERVICE_NAME"] == "osmops-prod"
    assert dep["spec"]["replicas"] == 2
    (sm,) = by_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"


def crds_identical():
    top = open(os.path.join(REPO, "crds", "osmops.io_osmsyncs.yaml")).read()
    chart = open(os.path.join(CHART, "crds", "osmops.io_osmsyncs.yaml")).read()
    assert top == chart, "charts/osmops/crds must be a copy of crds/ (cp crds/*.yaml charts/osmops/crds/)"
    crds = helm.Chart.load(CHART).crds
    assert len(crds) == 1
    kubernetes_validate.validate(yaml.safe_load(top), KUBE_VERSION, strict=True)


def schema_rejects_bad_values():
    chart = helm.Chart.load(CHART)
    chart.validate_schema(ALL_ON)
    for bad in ({"replicaCount": "two"}, {"controller": {"logFormat": "xml"}}, {"unknownKey": 1},
                {"controller": {"requeueDependency": "thirty seconds"}},
                {"grafanaDashboard": {"labels": {"grafana_dashboard": 1}}}):
        try:
            chart.validate_schema(bad)
        except Exception:  # noqa: BLE001 - any schema error is the expected outcome
            continue
        raise AssertionError(f"schema accepted {bad}")


def required_secrets_are_enforced():
    try:
        render({"grpc": {"tls": {"enabled": True}}})
    except Exception as e:  # noqa: BLE001
        assert "grpc.tls.secretName is required" in str(e), e
        return
    raise AssertionError("rendering TLS without a Secret name succeeded")


check("lint --strict (defaults and every option on)", lint_strict)
check("render defaults → valid Kubernetes manifests", validate_all(None))
check("render every option on → valid Kubernetes manifests", validate_all(ALL_ON))
check("security defaults", security_defaults)
check("RBAC: least privilege, no wildcards", rbac_least_privilege)
check("every option reaches the Deployment", all_features_wired)
check("chart CRD identical to crds/ and valid", crds_identical)
check("values.schema.json rejects bad values", schema_rejects_bad_values)
check("required Secrets are enforced", required_secrets_are_enforced)


def tenants_get_osmsyncs_through_the_default_roles():
    docs = render(None)
    aggregated = {}
    for r in by_kind(docs, "ClusterRole"):
        for label, v in r["metadata"]["labels"].items():
            if label.startswith("rbac.authorization.k8s.io/aggregate-to-") and v == "true":
                aggregated.setdefault(label.rsplit("-", 1)[-1], []).extend(r["rules"])
    assert set(aggregated) == {"admin", "edit", "view"}, aggregated
    verbs = lambda role: {v for rule in aggregated[role] if "osmsyncs" in rule["resources"] for v in rule["verbs"]}
    assert {"create", "update", "patch", "delete"} <= verbs("edit") and {"create", "delete"} <= verbs("admin")
    assert verbs("view") == {"get", "list", "watch"}
    off = by_kind(render({"rbac": {"aggregateToDefaultRoles": False}}), "ClusterRole")
    assert not [r for r in off if any(k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in r["metadata"]["labels"])]


def flux_options_reach_the_controller():
    values = {"eventsAddr": "http://notification-controller.flux-system.svc.cluster.local./",
              "leaderElection": {"enabled": True, "leaseDuration": "40s", "renewDeadline": "30s", "retryPeriod": "5s"},
              "controller": {"watchLabelSelector": "sharding.fluxcd.io/key=shard1", "intervalJitterPercentage": 10,
                             "kubeApiQps": 20, "kubeApiBurst": 100}}
    docs = render(values)
    (dep,) = by_kind(docs, "Deployment")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    for a in ["--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
              "--leader-election-lease-duration=40s", "--leader-election-renew-deadline=30s",
              "--leader-election-retry-period=5s", "--watch-label-selector=sharding.fluxcd.io/key=shard1",
              "--interval-jitter-percentage=10", "--kube-api-qps=20", "--kube-api-burst=100",
              "--watch-configs-label-selector=reconcile.fluxcd.io/watch=Enabled"]:
        assert a in args, (a, args)
    off = render({"leaderElection": {"enabled": False}})
    (dep,) = by_kind(off, "Deployment")
    assert "--enable-leader-election=false" in dep["spec"]["template"]["spec"]["containers"][0]["args"]


def network_policy_lets_the_release_reach_source_controller():
    assert not by_kind(render(None), "NetworkPolicy"), "opt-in"
    docs = render({"networkPolicy": {"allowSourceController": True}})
    (np,) = by_kind(docs, "NetworkPolicy")
    assert np["metadata"]["namespace"] == "flux-system"
    assert np["spec"]["podSelector"] == {"matchLabels": {"app": "source-controller"}}
    (rule,) = np["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "osmops-system"}
    (dep,) = by_kind(docs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in peer["podSelector"]["matchLabels"].items()), (peer, pod_labels)
    assert rule["ports"] == [{"protocol": "TCP", "port": 9090}]
    for path, doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def grafana_dashboard_is_opt_in_and_found_by_the_sidecar():
    assert not by_kind(render(None), "ConfigMap"), "the dashboard is off by default"
    docs = render({"grafanaDashboard": {"enabled": True, "namespace": "monitoring"}})
    (cm,) = by_kind(docs, "ConfigMap")
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1", cm["metadata"]["labels"]
    (key,) = cm["data"].keys()
    assert key.endswith(".json"), key
    shipped = json.loads(cm["data"][key])
    with open(os.path.join(CHART, "dashboards", "osmsyncs.json")) as f:
        assert shipped == json.load(f), "the ConfigMap carries the dashboard file unchanged"
    assert shipped["uid"] and shipped["panels"], "a dashboard with panels"
    kubernetes_validate.validate(cm, KUBE_VERSION, strict=True)
    # The queries read the object's namespace as exported_namespace: true as long as Prometheus
    # does not honour the exported labels (the ServiceMonitor's default).
    (sm,) = by_kind(render({"metrics": {"serviceMonitor": {"enabled": True}}}), "ServiceMonitor")
    assert not any(e.get("honorLabels") for e in sm["spec"]["endpoints"]), sm
    custom = render({"grafanaDashboard": {"enabled": True, "labels": {"dashboards": "osm"}}})
    (cm,) = by_kind(custom, "ConfigMap")
    assert cm["metadata"]["labels"]["dashboards"] == "osm" and cm["metadata"]["namespace"] == "osmops-system"


check("tenants get OsmSyncs through admin/edit/view", tenants_get_osmsyncs_through_the_default_roles)
check("Flux's flags reach the controller", flux_options_reach_the_controller)
check("NetworkPolicy lets the release reach source-controller", network_policy_lets_the_release_reach_source_controller)
check("Grafana dashboard is opt-in and found by the sidecar", grafana_dashboard_is_opt_in_and_found_by_the_sidecar)

# The controller arguments each configuration renders, for tests/helm_chart.rs to parse with the
# binary's own command line definition (so a flag the chart passes can never be unknown to it).
if os.environ.get("OSMOPS_CHART_ARGS_OUT"):
    rendered = []
    for values in (None, ALL_ON, {"leaderElection": {"enabled": False}, "eventsAddr": "http://nc.flux-system./",
                                  "controller": {"watchLabelSelector": "team=a"}}):
        (dep,) = by_kind(render(values), "Deployment")
        rendered.append(dep["spec"]["template"]["spec"]["containers"][0]["args"])
    with open(os.environ["OSMOPS_CHART_ARGS_OUT"], "w") as f:
        json.dump(rendered, f)

failed = sum(1 for _, e in results if e)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
