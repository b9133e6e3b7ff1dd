"""Offline checks of the Helm chart ``deploy/helm/triton-ocr`` with a real helm (v4, from a pinned PyPI wheel).

Every helm call runs with its cache, config and data homes in a temporary folder, no kubeconfig, and HTTP(S) proxies
pointing at a closed local port; Python sockets are refused for the whole module. Nothing reaches a network or a
cluster. For each value set: ``helm lint --strict``, ``helm template`` with a pinned ``--kube-version`` and
``--api-versions``, the rendered manifests validated by kubernetes-validate (strict, Kubernetes 1.31) and yamllint,
then what the chart promises (probes, /dev/shm, GPU limits, NetworkPolicy, HPA metric, ...) read off the manifests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from triton_ocr.errors import OCRError
from triton_ocr import contract

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "triton-ocr"
VALUES_DIR = ROOT / "deploy" / "helm" / "values"
ADAPTER_VALUES = ROOT / "deploy" / "helm" / "prometheus-adapter" / "values.yaml"
YAMLLINT_CONFIG = ROOT / "deploy" / "yamllint.yaml"
KUBE_VERSION = "1.31.0"
CUSTOM_METRICS_API = "custom.metrics.k8s.io/v1beta1"
MONITORING_API = "monitoring.coreos.com/v1"
RELEASE = "ocr"
DEAD_PROXY = "http://127.0.0.1:9"

# name: (value files under deploy/helm/values, extra --api-versions)
VALUE_SETS = {
    "default": ((), ()),
    "gpu": (("gpu.yaml",), (MONITORING_API, CUSTOM_METRICS_API)),
    "pvc": (("pvc.yaml",), (CUSTOM_METRICS_API,)),
    "s3": (("s3.yaml",), ()),
    "gcs": (("gcs.yaml",), (MONITORING_API,)),
}
TRITON = f"{RELEASE}-triton-ocr-triton"
GATEWAY = f"{RELEASE}-triton-ocr-gateway"


@pytest.fixture(scope="module", autouse=True)
def no_sockets():
    """Refuse every Python-level network connection while this module runs."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the offline chart checks")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def helm() -> Path:
    spec = importlib.util.spec_from_file_location("fetch_helm", ROOT / "deploy" / "tools" / "fetch_helm.py")
    fetch_helm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_helm)
    try:
        return fetch_helm.fetch_helm()
    except OCRError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"helm is required in CI: {exc}")
        pytest.skip(f"helm could not be fetched (python deploy/tools/fetch_helm.py): {exc}")


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory) -> dict[str, str]:
    """A sealed environment: fresh helm homes, no kubeconfig, any HTTP(S) request sent to a closed port."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "no-kubeconfig"),
        "NO_PROXY": "",
        "no_proxy": "",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = DEAD_PROXY
    return env


def run_helm(helm: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], env=env, capture_output=True, text=True, timeout=60)


def value_args(files=(), api_versions=()) -> list[str]:
    args = ["--kube-version", KUBE_VERSION]
    for name in files:
        args += ["-f", str(VALUES_DIR / name)]
    for api in api_versions:
        args += ["--api-versions", api]
    return args


def template(helm, env, *args: str, chart: Path = CHART) -> subprocess.CompletedProcess:
    return run_helm(helm, env, "template", RELEASE, str(chart), "--namespace", RELEASE, *args)


@pytest.fixture(scope="module")
def rendered(helm, helm_env):
    """Rendered text of a value set, rendered once per module."""
    cache: dict[str, str] = {}

    def render(name: str) -> str:
        if name not in cache:
            files, apis = VALUE_SETS[name]
            done = template(helm, helm_env, *value_args(files, apis))
            assert done.returncode == 0, done.stderr
            cache[name] = done.stdout
        return cache[name]

    return render


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def schema_errors(docs: list[dict]) -> list[str]:
    """Strict kubernetes-validate findings; only the ServiceMonitor CRD has no schema to check against."""
    errors = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            if doc["kind"] != "ServiceMonitor":
                errors.append(f"{where}: {exc.message}")
    return errors


def triton_pod(docs: list[dict]) -> dict:
    return find(docs, "Deployment", TRITON)["spec"]["template"]


def triton_container(docs: list[dict]) -> dict:
    (container,) = triton_pod(docs)["spec"]["containers"]
    return container


# --- the tools' checks, for every value set -------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict(helm, helm_env, name):
    files, _ = VALUE_SETS[name]
    done = run_helm(helm, helm_env, "lint", "--strict", str(CHART), *value_args(files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_pass_kubernetes_schemas(rendered, name):
    docs = documents(rendered(name))
    assert schema_errors(docs) == []
    kinds = sorted({d["kind"] for d in docs})
    expected = {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget",
                "Service", "ServiceAccount"}
    assert expected <= set(kinds), kinds


@pytest.mark.parametrize("name", VALUE_SETS)
def test_rendered_manifests_pass_yamllint(rendered, name):
    problems = list(linter.run(rendered(name), YamlLintConfig(file=str(YAMLLINT_CONFIG))))
    assert [f"{p.line}:{p.column} {p.desc} ({p.rule})" for p in problems] == []


def test_deploy_yaml_files_pass_yamllint():
    config = YamlLintConfig(file=str(YAMLLINT_CONFIG))
    paths = sorted(p for p in (ROOT / "deploy").rglob("*.yaml") if not config.is_file_ignored(str(p.relative_to(ROOT))))
    assert len(paths) >= 8
    problems = [
        f"{path.relative_to(ROOT)}:{p.line}:{p.column} {p.desc}"
        for path in paths
        for p in linter.run(path.read_text(), config, str(path))
    ]
    assert problems == []


# --- broken values and templates must fail ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (("--set-string", "triton.replicas=two"), "at '/triton/replicas': got string, want integer"),
        (("--set", "profile=tpu"), "at '/profile'"),
        (("--set", "triton.replica=2"), "additional properties 'replica' not allowed"),
        (("--set", "modelRepository.source=s3"), "'' does not match pattern '^s3://.+'"),
        (("--set", "modelRepository.source=pvc"), "at '/modelRepository/pvc/claimName'"),
        (("--set-string", "triton.image.version=latest"), "at '/triton/image/version'"),
    ],
)
def test_wrong_values_fail_schema_validation(helm, helm_env, setting, message):
    done = template(helm, helm_env, *value_args(), *setting)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr
    assert message in done.stderr, done.stderr


def test_min_replicas_above_max_fails(helm, helm_env):
    done = template(helm, helm_env, *value_args(), "--set", "triton.autoscaling.minReplicas=9")
    assert done.returncode != 0
    assert "triton.autoscaling.minReplicas (9) is above maxReplicas (8)" in done.stderr


def copy_chart(tmp_path: Path) -> Path:
    copy = tmp_path / "triton-ocr"
    shutil.copytree(CHART, copy)
    return copy


def test_broken_template_syntax_fails_lint(helm, helm_env, tmp_path):
    chart = copy_chart(tmp_path)
    hpa = chart / "templates" / "triton-hpa.yaml"
    hpa.write_text(hpa.read_text().replace("{{- end }}\n", "", 1))
    done = run_helm(helm, helm_env, "lint", "--strict", str(chart), *value_args())
    assert done.returncode != 0
    assert "triton-hpa.yaml" in done.stdout + done.stderr


def test_broken_manifest_field_fails_schema_check(helm, helm_env, tmp_path):
    chart = copy_chart(tmp_path)
    deployment = chart / "templates" / "triton-deployment.yaml"
    deployment.write_text(deployment.read_text().replace("imagePullPolicy: {{ .image", "imagePullpolicy: {{ .image"))
    done = template(helm, helm_env, *value_args(), chart=chart)
    assert done.returncode == 0, done.stderr  # helm renders it: only the strict schema check sees the typo
    assert schema_errors(documents(done.stdout)) == [
        f"Deployment/{TRITON}: spec.template.spec.containers.0: "
        "Additional properties are not allowed ('imagePullpolicy' was unexpected)"
    ]


def test_helm_cannot_reach_the_network(helm, helm_env, tmp_path):
    done = run_helm(helm, helm_env, "pull", "https://charts.example.invalid/triton-ocr-0.1.0.tgz", "-d", str(tmp_path))
    assert done.returncode != 0
    assert "proxyconnect tcp: dial tcp 127.0.0.1:9" in done.stderr


# --- what the chart promises -------------------------------------------------------------------------------------


def test_triton_pod_defaults(rendered):
    docs = documents(rendered("default"))
    pod = triton_pod(docs)
    container = triton_container(docs)
    assert container["image"] == "nvcr.io/nvidia/tritonserver:24.10-py3"
    startup = container["startupProbe"]
    assert startup["grpc"] == {"port": 8001}  # Triton serves grpc.health.v1; its HTTP is on the pod's loopback
    assert "--http-address=127.0.0.1" in container["args"]
    assert [p["name"] for p in container["ports"]] == ["grpc", "metrics"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 600
    # ready and live: a real inference (a dead stub leaves /v2/health/ready green), run by the model image's Python
    probe = ["/opt/triton-ocr/venv/bin/python", "-m", "triton_ocr.serving.server.readiness",
             "--url", "127.0.0.1:8001", "--timeout", "10"]
    for kind in ("readinessProbe", "livenessProbe"):
        assert container[kind]["exec"]["command"] == probe
        assert container[kind]["timeoutSeconds"] > 2 * 10  # two inferences of up to 10 s each
    assert container["livenessProbe"]["failureThreshold"] * container["livenessProbe"]["periodSeconds"] >= 300
    assert importlib.util.find_spec(probe[2]) is not None
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "dshm"
    assert mounts["/opt/triton-ocr"] == {"name": "triton-ocr", "mountPath": "/opt/triton-ocr", "readOnly": True}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for c in [container, *pod["spec"]["initContainers"]]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    (init,) = pod["spec"]["initContainers"]
    assert init["image"] == "registry.example.com/triton-ocr/model-repository:0.1.0-cpu"
    assert init["command"] == ["cp", "-a", "/opt/triton-ocr/.", "/mnt/triton-ocr/"]
    assert "PATH=/opt/triton-ocr/venv/bin:$PATH exec tritonserver" in container["command"][2]
    assert "--model-repository=/opt/triton-ocr/model_repository" in container["args"]
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    assert "tolerations" not in pod["spec"]
    from triton_ocr.heap import GATEWAY_MALLOC_SETTINGS, MALLOC_SETTINGS

    for name, settings in ((TRITON, MALLOC_SETTINGS), (GATEWAY, GATEWAY_MALLOC_SETTINGS)):
        environment = find(docs, "ConfigMap", name)["data"]
        assert {key: environment.get(key) for key in settings} == settings  # as `triton-ocr serve` runs


def test_gpu_profile(rendered):
    docs = documents(rendered("gpu"))
    pod = triton_pod(docs)
    container = triton_container(docs)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["spec"]["initContainers"][0]["image"].endswith(":0.1.0-gpu")
    assert "--allow-gpu-metrics=true" in container["args"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}


@pytest.mark.parametrize(
    ("name", "argument", "volume"),
    [
        ("pvc", "--model-repository=/models/cpu/model_repository", {"claimName": "triton-ocr-models", "readOnly": True}),
        ("s3", "--model-repository=s3://example-models/triton-ocr/0.1.0/cpu/model_repository", None),
        ("gcs", "--model-repository=gs://example-models/triton-ocr/0.1.0/cpu/model_repository", None),
    ],
)
def test_model_repository_sources(rendered, name, argument, volume):
    docs = documents(rendered(name))
    container = triton_container(docs)
    assert argument in container["args"]
    volumes = {v["name"]: v for v in triton_pod(docs)["spec"]["volumes"]}
    config = find(docs, "ConfigMap", TRITON)["data"]
    if name == "pvc":
        assert volumes["models"]["persistentVolumeClaim"] == volume
        assert "--model-control-mode=poll" in container["args"]
    if name == "s3":
        assert {"secretRef": {"name": "triton-ocr-s3"}} in container["envFrom"]
        assert config["AWS_DEFAULT_REGION"] == "eu-west-1"
    if name == "gcs":
        assert volumes["gcs-credentials"]["secret"] == {"secretName": "triton-ocr-gcs"}
        assert config["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/gcs/key.json"


def test_triton_is_cluster_internal_and_fenced(rendered):
    docs = documents(rendered("default"))
    service = find(docs, "Service", TRITON)
    assert service["spec"]["type"] == "ClusterIP"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"grpc": 8001, "metrics": 8002}
    policy = find(docs, "NetworkPolicy", TRITON)["spec"]
    triton_labels = triton_pod(docs)["metadata"]["labels"]
    gateway_labels = find(docs, "Deployment", GATEWAY)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= triton_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    from_gateway, from_prometheus = policy["ingress"]
    assert from_gateway["from"][0]["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    assert not from_gateway["from"][0]["podSelector"]["matchLabels"].items() <= triton_labels.items()
    assert [p["port"] for p in from_gateway["ports"]] == ["grpc"]  # the gateway speaks gRPC; HTTP reaches no one
    assert set(from_prometheus["from"][0]) == {"namespaceSelector", "podSelector"}
    assert [p["port"] for p in from_prometheus["ports"]] == ["metrics"]


def entrypoint_arguments(container: dict, tmp_path: Path, env: dict[str, str]) -> list[str]:
    """What ``tritonserver`` receives when the container's entrypoint runs (a stand-in prints its arguments)."""
    fake = tmp_path / "bin" / "tritonserver"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\nenv | grep -c TRITON_OCR_ADMIN_KEY || true\n')
    fake.chmod(0o755)
    script = container["command"][2].replace("PATH=/opt/triton-ocr/venv/bin:$PATH", f"PATH={fake.parent}:$PATH")
    done = subprocess.run([*container["command"][:2], script, *container["command"][3:], *container["args"]],
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, check=True)
    *arguments, variables = done.stdout.splitlines()
    assert variables == "0"  # the key variable is not left to the python stubs
    return arguments


def test_compose_starts_triton_as_the_chart_does(rendered):
    compose = yaml.safe_load((ROOT / "deploy" / "docker" / "compose.yaml").read_text())
    entrypoint = [part.replace("$$", "$") for part in compose["services"]["triton"]["entrypoint"]]
    assert entrypoint == triton_container(documents(rendered("default")))["command"]


def test_restricted_apis_need_the_admin_key_in_every_mode(helm, helm_env, rendered, tmp_path):
    """Every API but inference, health and metadata wants the header triton-ocr-admin-key: none and poll (Triton
    refuses load/unload anyway) with a key drawn at each start, explicit with adminKeySecret's."""
    from triton_ocr.serving.server.launcher import ADMIN_HEADER, RESTRICTED_APIS

    apis = ",".join(RESTRICTED_APIS)
    keys = []
    for name in ("default", "pvc"):
        container = triton_container(documents(rendered(name)))
        assert not any(a.startswith("--load-model") or a == "--model-control-mode=explicit" for a in container["args"])
        assert "env" not in container
        arguments = entrypoint_arguments(container, tmp_path, {})
        (http,) = [a for a in arguments if a.startswith("--http-restricted-api=")]
        (grpc,) = [a for a in arguments if a.startswith("--grpc-restricted-protocol=")]
        key = http.split(f"={apis}:{ADMIN_HEADER}=", 1)[1]
        assert grpc == f"--grpc-restricted-protocol={apis}:{ADMIN_HEADER}={key}" and len(key) == 48
        keys.append(key)
    assert keys[0] != keys[1]  # drawn at each start
    refused = template(helm, helm_env, *value_args(), "--set", "triton.modelControlMode=explicit")
    assert refused.returncode != 0 and "adminKeySecret" in refused.stderr
    done = template(helm, helm_env, *value_args(), "--set", "triton.modelControlMode=explicit",
                    "--set", "triton.adminKeySecret.name=triton-admin")
    assert done.returncode == 0, done.stderr
    docs = documents(done.stdout)
    assert not schema_errors(docs)
    container = triton_container(docs)
    assert "--load-model=*" in container["args"]
    assert container["env"] == [{"name": "TRITON_OCR_ADMIN_KEY", "valueFrom": {
        "secretKeyRef": {"name": "triton-admin", "key": "admin-key"}}}]
    arguments = entrypoint_arguments(container, tmp_path, {"TRITON_OCR_ADMIN_KEY": "from-the-secret"})
    assert f"--http-restricted-api={apis}:{ADMIN_HEADER}=from-the-secret" in arguments
    assert f"--grpc-restricted-protocol={apis}:{ADMIN_HEADER}=from-the-secret" in arguments


@pytest.mark.parametrize(
    ("name", "api_versions", "metric_type"),
    [
        ("default", (), "Resource"),  # auto, no custom metrics API: CPU fallback
        ("default", (CUSTOM_METRICS_API,), "Pods"),  # auto with the adapter: queue time
        ("gpu", None, "Pods"),  # queueTime
        ("pvc", None, "Resource"),  # cpu, although the custom metrics API exists
    ],
)
def test_triton_hpa_metric(helm, helm_env, rendered, name, api_versions, metric_type):
    if api_versions is None:
        text = rendered(name)
    else:
        done = template(helm, helm_env, *value_args(VALUE_SETS[name][0], api_versions))
        assert done.returncode == 0, done.stderr
        text = done.stdout
    hpa = find(documents(text), "HorizontalPodAutoscaler", TRITON)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": TRITON}
    (metric,) = hpa["metrics"]
    assert metric["type"] == metric_type
    if metric_type == "Pods":
        adapter_rule = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"][0]
        assert metric["pods"]["metric"]["name"] == adapter_rule["name"]["as"]
        assert metric["pods"]["target"]["type"] == "AverageValue"
    else:
        assert metric["resource"] == {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_prometheus_adapter_rule_divides_queue_time_by_requests():
    rule = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"][0]
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert rule["name"]["as"] == chart_values["triton"]["autoscaling"]["queueTime"]["metricName"]
    numerator, denominator = rule["metricsQuery"].split(" / ")
    entries = f"{contract.OCR}|{contract.OCR_RAW}"  # the repository's public ensembles
    assert "rate(nv_inference_queue_duration_us{" in numerator and f'model!~"{entries}"' in numerator
    assert "rate(nv_inference_request_success{" in denominator and f'model=~"{entries}"' in denominator
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_gateway_scaling_and_disruption_budgets(rendered):
    docs = documents(rendered("default"))
    gateway_hpa = find(docs, "HorizontalPodAutoscaler", GATEWAY)["spec"]
    assert gateway_hpa["metrics"][0]["resource"]["name"] == "cpu"
    for name in (TRITON, GATEWAY):
        pdb = find(docs, "PodDisruptionBudget", name)["spec"]
        deployment = find(docs, "Deployment", name)
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"] == deployment["spec"]["selector"]
        assert "replicas" not in deployment["spec"]  # the HPA owns it


def test_gateway_command_and_ingress(rendered):
    docs = documents(rendered("gpu"))
    (container,) = find(docs, "Deployment", GATEWAY)["spec"]["template"]["spec"]["containers"]
    assert container["args"][:5] == ["gateway", "--engine", "triton", "--triton-url", "$(TRITON_URL)"]
    config = find(docs, "ConfigMap", GATEWAY)["data"]
    assert config["TRITON_URL"] == f"grpc://{TRITON}:8001"
    assert config["GATEWAY_PORT"] == "8080"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    ingress = find(docs, "Ingress", GATEWAY)["spec"]
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": GATEWAY, "port": {"name": "http"}}


def test_service_monitor_only_with_the_monitoring_api(rendered):
    assert "ServiceMonitor" not in {d["kind"] for d in documents(rendered("default"))}
    docs = documents(rendered("gpu"))
    monitor = find(docs, "ServiceMonitor", TRITON)
    service = find(docs, "Service", TRITON)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_config_change_rolls_only_its_pods(helm, helm_env, rendered):
    before = documents(rendered("default"))
    done = template(helm, helm_env, *value_args(), "--set", "triton.env.OMP_NUM_THREADS=2")
    assert done.returncode == 0, done.stderr
    after = documents(done.stdout)

    def checksum(docs, name):
        return find(docs, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(before, TRITON) != checksum(after, TRITON)
    assert checksum(before, GATEWAY) == checksum(after, GATEWAY)
    assert find(after, "ConfigMap", TRITON)["data"]["OMP_NUM_THREADS"] == "2"


def test_no_hard_coded_namespace(rendered):
    for name in VALUE_SETS:
        assert all("namespace" not in doc["metadata"] for doc in documents(rendered(name)))


def test_notes_tell_how_to_call_the_service(helm, helm_env):
    done = run_helm(helm, helm_env, "install", RELEASE, str(CHART), "--namespace", RELEASE, "--dry-run=client")
    assert done.returncode == 0, done.stderr
    notes = done.stdout.split("NOTES:", 1)[1]
    assert f"port-forward service/{GATEWAY} 8080:80" in notes
    assert "base64" in notes and 'curl -s -X POST "$URL/ocr"' in notes
