"""The Kubernetes manifests in k8s/, checked without a cluster: every object against the schemas of
a pinned Kubernetes version (strict, so a misspelt or misplaced field fails), then what the stage
promises about them: probes, hardening, limits, rollouts, selectors, secrets, images."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

STAGE_DIR = Path(__file__).resolve().parent.parent
K8S_DIR = STAGE_DIR / "k8s"
# The newest Kubernetes whose schemas the pinned kubernetes-validate ships.
KUBERNETES_VERSION = "1.37.0"

KUSTOMIZATION_TEXT = (K8S_DIR / "kustomization.yaml").read_text()
KUSTOMIZATION = yaml.safe_load(KUSTOMIZATION_TEXT)
OBJECTS = [obj for name in KUSTOMIZATION["resources"]
           for obj in yaml.safe_load_all((K8S_DIR / name).read_text()) if obj]
WORKLOADS = [obj for obj in OBJECTS if obj["kind"] in {"Deployment", "StatefulSet"}]


def object_id(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def find(kind: str, name: str) -> dict:
    return next(obj for obj in OBJECTS if obj["kind"] == kind and obj["metadata"]["name"] == name)


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict) -> list[dict]:
    return pod_spec(workload).get("initContainers", []) + pod_spec(workload)["containers"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def test_kustomization_applies_every_manifest():
    on_disk = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(KUSTOMIZATION["resources"]) == sorted(on_disk)


@pytest.mark.parametrize("obj", OBJECTS, ids=object_id)
def test_valid_against_pinned_kubernetes_schema(obj):
    try:
        validated = kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{'.'.join(map(str, error.path))}: {error.message}")
    assert validated == KUBERNETES_VERSION.rsplit(".", 1)[0]  # not silently an older schema set


def test_no_probe_of_web_follows_the_shared_database():
    """A database outage must neither restart every pod (liveness) nor take every pod out of the
    Service (readiness): both ask /healthz, which touches no database."""
    (web,) = pod_spec(find("Deployment", "web"))["containers"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The app's port by name: a renamed port would leave the probes knocking at nothing.
    assert {web[probe]["httpGet"]["port"] for probe in ("readinessProbe", "livenessProbe")} == {"http"}
    assert {"name": "http", "containerPort": 8000} in web["ports"]


@pytest.mark.parametrize("workload", WORKLOADS, ids=object_id)
def test_every_container_is_hardened(workload):
    pod = pod_spec(workload)
    assert pod["automountServiceAccountToken"] is False
    for container in containers(workload):
        context = container.get("securityContext", {})
        effective = {**pod.get("securityContext", {}), **context}  # a container's value wins
        assert effective.get("runAsNonRoot") is True, container["name"]
        assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}, container["name"]
        assert context.get("readOnlyRootFilesystem") is True, container["name"]
        assert context.get("allowPrivilegeEscalation") is False, container["name"]
        assert context.get("capabilities", {}).get("drop") == ["ALL"], container["name"]


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> int:
    # Kubernetes' Mi and Gi; Docker's M and G are the same binary units.
    number, unit = re.fullmatch(r"(\d+)(Mi|M|Gi|G)", quantity).groups()
    return int(number) * (1024 if unit.startswith("G") else 1)


@pytest.mark.parametrize("workload", WORKLOADS, ids=object_id)
def test_every_container_has_the_limits_of_compose(workload):
    compose = yaml.safe_load((STAGE_DIR / "compose.yaml").read_text())
    expected = compose["services"][workload["metadata"]["name"]]["deploy"]["resources"]["limits"]
    for container in containers(workload):
        resources = container["resources"]
        assert set(resources["requests"]) >= {"cpu", "memory"}, container["name"]
        assert cpus(resources["limits"]["cpu"]) == float(expected["cpus"]), container["name"]
        assert mebibytes(resources["limits"]["memory"]) == mebibytes(expected["memory"]), container["name"]


def test_web_rolls_out_without_losing_capacity():
    web = find("Deployment", "web")["spec"]
    assert web["replicas"] >= 2
    assert web["strategy"]["type"] == "RollingUpdate"
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert web["strategy"]["rollingUpdate"]["maxSurge"] >= 1


def test_a_disruption_budget_keeps_web_pods_and_still_allows_a_drain():
    web = find("Deployment", "web")["spec"]
    budgets = [obj["spec"] for obj in OBJECTS if obj["kind"] == "PodDisruptionBudget"
               and selects(obj["spec"]["selector"]["matchLabels"], web["template"]["metadata"]["labels"])]
    assert len(budgets) == 1
    assert 1 <= budgets[0]["minAvailable"] < web["replicas"]


@pytest.mark.parametrize("service", [obj for obj in OBJECTS if obj["kind"] == "Service"], ids=object_id)
def test_every_service_selects_pods_and_their_named_port(service):
    matching = [workload for workload in WORKLOADS
                if selects(service["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"])]
    assert matching, "the selector matches no pod template"
    port_names = {port.get("name") for workload in matching for container in containers(workload)
                  for port in container.get("ports", [])}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names


def test_no_secret_is_committed_and_the_documented_command_creates_the_one_used():
    every_object = [obj for path in K8S_DIR.glob("*.yaml")
                    for obj in yaml.safe_load_all(path.read_text()) if obj]
    assert [obj for obj in every_object if obj.get("kind") == "Secret"] == []
    assert "secretGenerator" not in KUSTOMIZATION
    # kustomization.yaml's `kubectl create secret generic NAME --from-file=KEY=...` comment must
    # create the Secret and every key that the workloads mount.
    documented = re.search(r"kubectl create secret generic (\S+)", KUSTOMIZATION_TEXT).group(1)
    documented_keys = set(re.findall(r"--from-file=(\w+)=", KUSTOMIZATION_TEXT))
    mounted = [volume["secret"] for workload in WORKLOADS for volume in pod_spec(workload).get("volumes", [])
               if "secret" in volume]
    assert mounted
    assert {secret["secretName"] for secret in mounted} == {documented}
    assert {item["key"] for secret in mounted for item in secret["items"]} <= documented_keys


def test_web_reads_its_secrets_from_mounted_files_not_the_environment():
    (web,) = pod_spec(find("Deployment", "web"))["containers"]
    assert not any("secretKeyRef" in var.get("valueFrom", {}) for var in web["env"])
    secret_volumes = {volume["name"] for volume in pod_spec(find("Deployment", "web"))["volumes"]
                      if "secret" in volume}
    secret_dirs = [mount["mountPath"] for mount in web["volumeMounts"] if mount["name"] in secret_volumes]
    files = {var["name"]: var["value"] for var in web["env"] if var["name"].endswith("_FILE")}
    assert set(files) == {"DATABASE_PASSWORD_FILE", "SECRET_KEY_FILE"}
    for path in files.values():
        assert any(path.startswith(directory + "/") for directory in secret_dirs), path


def test_config_map_holds_no_password_and_leaves_the_worker_count_to_the_cpu_limit():
    settings = find("ConfigMap", "links-config")["data"]
    database_url = urlsplit(settings["DATABASE_URL"])
    assert (database_url.hostname, database_url.password) == ("db", None)  # the password is a file
    assert not any(word in key.upper() for key in settings for word in ("PASSWORD", "SECRET"))
    # gunicorn.conf.py counts the pod's CPU limit (its cgroup quota), which web.yaml sets.
    assert "GUNICORN_WORKERS" not in settings
    assert "cpu_limit()" in (STAGE_DIR / "gunicorn.conf.py").read_text()
    (web,) = pod_spec(find("Deployment", "web"))["containers"]
    assert cpus(web["resources"]["limits"]["cpu"]) == 1.0


def test_the_visit_mover_runs_the_web_image_alone_with_a_liveness_probe():
    mover = find("Deployment", "visits")
    (container,) = pod_spec(mover)["containers"]
    (web,) = pod_spec(find("Deployment", "web"))["containers"]
    assert container["image"] == web["image"]
    assert container["command"] == ["flask", "move-visits", "--interval", "1"]
    assert mover["spec"]["replicas"] == 1
    assert mover["spec"]["strategy"]["type"] == "Recreate"
    assert "visits-heartbeat" in " ".join(container["livenessProbe"]["exec"]["command"])


def image_name(image: str) -> str:
    """The image without tag or digest: what kustomize's `images:` entries match on."""
    name = image.split("@")[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


def test_the_web_image_is_set_by_the_kustomization():
    (web,) = pod_spec(find("Deployment", "web"))["containers"]
    entries = {entry["name"]: entry for entry in KUSTOMIZATION["images"]}
    assert image_name(web["image"]) in entries
    assert {"newName", "newTag", "digest"} & set(entries[image_name(web["image"])])


def nginx_directives(text: str) -> set[str]:
    """The lines that decide what nginx serves: locations, body limit, headers passed to the app."""
    lines = {line.split("#")[0].strip() for line in text.splitlines()}
    return {line for line in lines
            if line.startswith(("location ", "client_max_body_size ", "proxy_set_header ", "listen "))}


def test_nginx_gets_a_kubernetes_config_in_step_with_the_stage_one():
    k8s_conf = (K8S_DIR / "nginx.conf").read_text()
    code = "\n".join(line.split("#")[0] for line in k8s_conf.splitlines())
    assert "127.0.0.11" not in code  # Docker's DNS server does not exist in a pod
    assert nginx_directives((STAGE_DIR / "nginx" / "nginx.conf").read_text()) <= nginx_directives(k8s_conf)
    assert {"name": "nginx-conf", "files": ["nginx.conf"]} in KUSTOMIZATION["configMapGenerator"]
    nginx = find("Deployment", "nginx")
    (container,) = pod_spec(nginx)["containers"]
    volumes = {volume["name"]: volume for volume in pod_spec(nginx)["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/nginx/nginx.conf")
    assert volumes[mount["name"]]["configMap"]["name"] == "nginx-conf"
    assert mount["subPath"] == "nginx.conf"
