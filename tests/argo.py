"""Test helper: Argo Workflows as far as the tests need it, with no cluster and no controller.

``render()`` builds ``k8s/argo`` with the venv's kubectl; ``schema_problems()`` holds each object to Argo's own API
(hera's generated models, made strict: a field the model does not know is reported, not dropped) and to the
Kubernetes schemas (kubernetes-validate ``--strict``), including the launcher pod Argo would create
(``launcher_pod``). ``Argo`` then runs a launcher step the way the controller and the emissary executor do, read
in argo-workflows' ``workflow/controller/operator.go``, ``workflowpod.go`` and ``workflow/common/util.go``:

- inputs: the argument, else the default; substitution in two passes, globals and locals (``workflow.*``,
  ``node.name``) first, then ``inputs.parameters.*`` and ``outputs.parameters.*.path``; unknown tags are left
  alone, so the launcher's own ``{{scheduled_date}}`` placeholders reach it;
- a ``retryStrategy`` template: ``node.name`` is substituted before the attempt node ``NAME(n)`` exists, so it is
  the same for every attempt, while ``pod.name`` and ``retries`` are substituted per attempt;
- the pod: raw input artifacts written where their ``path`` says, the container's env (``envFrom`` ConfigMaps,
  downward API), volumes as directories; afterwards each output parameter read from ``valueFrom.path``, or its
  ``default`` when the file is missing;
- DAG tasks in dependency order, ``tasks.NAME.outputs.parameters.*`` in scope, ``when`` compared as Argo does
  (``'a' == 'b'``).

The launcher process is the real one (``tests.launcher``); only the Vertex endpoint, credentials and poll speed
are pointed at the emulator.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs
import yaml
from hera.workflows.models import CronWorkflow as CronWorkflowModel
from hera.workflows.models import Workflow as WorkflowModel
from hera.workflows.models import WorkflowTemplate as WorkflowTemplateModel
from pydantic import BaseModel, ValidationError

from tests.fixtures.emulator import Emulator
from tests.launcher import Finished

REPO = Path(__file__).resolve().parent.parent
ARGO_DIR = REPO / "k8s" / "argo"
ARGO_API = "argoproj.io/v1alpha1"
ARGO_MODELS: dict[str, type[BaseModel]] = {
    "WorkflowTemplate": WorkflowTemplateModel,
    "CronWorkflow": CronWorkflowModel,
    "Workflow": WorkflowModel,
}
#: The kubernetes-validate minors the CronJob manifests are checked against (mk/k8s.mk K8S_VERSIONS).
K8S_VERSIONS = ("1.30", "1.31", "1.32", "1.33")
#: A simple tag: ``{{ name }}``. Expression tags (``{{=...}}``) are not used by k8s/argo (checked).
TAG = re.compile(r"\{\{([^{}]*)\}\}")
#: Tags Argo owns; one left over after substitution would reach the container as literal text.
ARGO_TAG = re.compile(r"^\s*(workflow|inputs|outputs|pod|node|tasks|steps|item|retries|lastRetry)\b")

Doc = dict[str, Any]


class ArgoError(AssertionError):
    """What Argo would refuse (an input not supplied, an unresolved variable, a missing output)."""


# ----- render and schemas -----------------------------------------------------------------------------------------


@functools.cache
def render(directory: Path = ARGO_DIR) -> tuple[Doc, ...]:
    """``kubectl kustomize DIRECTORY`` with the venv's kubectl, as documents."""
    kubectl = Path(sys.executable).parent / "kubectl"
    command = [str(kubectl), "kustomize", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        msg = f"kubectl kustomize {directory}: {done.stderr}"
        raise ArgoError(msg)
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def find(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    """The one rendered object of that kind and name."""
    [doc] = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return doc


def template_of(docs: tuple[Doc, ...], workflow_template: str, template: str) -> Doc:
    """A named template of a rendered WorkflowTemplate."""
    templates: list[Doc] = find(docs, "WorkflowTemplate", workflow_template)["spec"]["templates"]
    [found] = [t for t in templates if t["name"] == template]
    return found


def argo_schema_problems(doc: Doc) -> list[str]:
    """Argo's API as hera's models state it, strictly: invalid values and every field the models do not know.

    The models ignore unknown fields (pydantic's default), so a misspelt field would pass ``model_validate``
    silently; a round trip shows it: whatever the validated model does not give back was not understood.
    """
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("apiVersion") != ARGO_API:
        return [f"{where}: apiVersion {doc.get('apiVersion')!r} is not {ARGO_API}"]
    try:
        parsed = ARGO_MODELS[doc["kind"]].model_validate(doc)
    except ValidationError as exc:
        return [f"{where}: {'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()]
    understood = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [f"{where}: unknown field {path}" for path in _dropped(doc, understood, "")]


def _dropped(given: Any, understood: Any, path: str) -> Iterator[str]:
    if isinstance(given, dict) and isinstance(understood, dict):
        for key, value in given.items():
            if key not in understood:
                yield f"{path}.{key}".lstrip(".")
            else:
                yield from _dropped(value, understood[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(understood, list):
        for index, (item, back) in enumerate(zip(given, understood, strict=True)):
            yield from _dropped(item, back, f"{path}[{index}]")


def kubernetes_schema_problems(doc: Doc, version: str) -> list[str]:
    """kubernetes-validate --strict for one object (a missing schema is a problem too, not a warning)."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{where} (Kubernetes {version}): {'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{where} (Kubernetes {version}): no schema ({exc})"]
    return []


def schema_problems(docs: tuple[Doc, ...], versions: tuple[str, ...] = K8S_VERSIONS) -> list[str]:
    """Every problem of a render: Argo objects by Argo's schema, the rest and each launcher pod by Kubernetes'."""
    problems: list[str] = []
    for doc in docs:
        if doc["kind"] in ARGO_MODELS:
            problems += argo_schema_problems(doc)
        else:
            problems += [p for version in versions for p in kubernetes_schema_problems(doc, version)]
    for doc in docs:
        if doc["kind"] == "WorkflowTemplate":
            for template in doc["spec"]["templates"]:
                if "container" in template:
                    name = f"{doc['metadata']['name']}-{template['name']}"
                    pod = launcher_pod(template, namespace=doc["metadata"].get("namespace", "default"), name=name)
                    problems += [p for version in versions for p in kubernetes_schema_problems(pod, version)]
    return problems


def launcher_pod(template: Doc, *, namespace: str, name: str = "step") -> Doc:
    """The part of the pod Argo builds from a container template that the template decides, podSpecPatch applied."""
    container = {**template["container"], "name": "main"}
    spec: Doc = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": template.get("volumes", []),
    }
    for ours, theirs in (
        ("serviceAccountName", "serviceAccountName"),
        ("automountServiceAccountToken", "automountServiceAccountToken"),
        ("securityContext", "securityContext"),
        ("nodeSelector", "nodeSelector"),
        ("activeDeadlineSeconds", "activeDeadlineSeconds"),
    ):
        if ours in template:
            spec[theirs] = template[ours]
    patch = yaml.safe_load(template.get("podSpecPatch") or "{}")
    if any(isinstance(value, dict | list) for value in patch.values()):
        msg = "podSpecPatch: only scalar fields are applied by this helper"
        raise ArgoError(msg)
    spec |= patch
    metadata = {"name": name, "namespace": namespace, **template.get("metadata", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


# ----- substitution -------------------------------------------------------------------------------------------------


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace each ``{{tag}}`` found in ``variables`` in every string of ``value``; leave the others as they are."""
    if isinstance(value, str):
        return TAG.sub(lambda m: variables.get(m.group(1).strip(), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value


def argo_tags_left(value: Any) -> list[str]:
    """Argo variables still unresolved anywhere in ``value``."""
    text = json.dumps(value)
    return sorted({m.group(0) for m in TAG.finditer(text) if ARGO_TAG.match(m.group(1))})


@dataclass(frozen=True)
class Workflow:
    """The workflow a step runs in: what Argo's global variables say."""

    name: str
    uid: str
    namespace: str = "vertex-launcher"
    creation_timestamp: str = "2026-01-31T01:59:58Z"
    scheduled_time: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        """``workflow.*`` as the controller sets them (scheduledTime only for a CronWorkflow's runs)."""
        values = {
            "workflow.name": self.name,
            "workflow.uid": self.uid,
            "workflow.namespace": self.namespace,
            "workflow.creationTimestamp": self.creation_timestamp,
            **{f"workflow.parameters.{key}": value for key, value in self.parameters.items()},
        }
        if self.scheduled_time is not None:
            values["workflow.scheduledTime"] = self.scheduled_time
        return values


def pod_name(workflow: Workflow, template: str, node: str) -> str:
    """Argo's v2 pod name: workflow, template and an FNV-1a hash of the (attempt) node's name."""
    digest = 0x811C9DC5
    for byte in node.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow.name}-{template}-{digest}"


@dataclass(frozen=True)
class Resolved:
    """A leaf template after Argo's substitution for one attempt."""

    template: Doc
    node: str
    attempt_node: str
    pod: str


def resolve(
    template: Doc, arguments: Mapping[str, str], workflow: Workflow, *, node: str, attempt: int = 0
) -> Resolved:
    """What ``executeTemplate`` makes of a leaf template for one attempt (``attempt`` = the ``retries`` number)."""
    resolved = copy.deepcopy(template)
    for parameter in resolved.get("inputs", {}).get("parameters", []):
        value = arguments.get(parameter["name"], parameter.get("default"))
        if value is None:
            msg = f"inputs.parameters.{parameter['name']} was not supplied"
            raise ArgoError(msg)
        if "enum" in parameter and value not in parameter["enum"]:
            msg = f"inputs.parameters.{parameter['name']}: {value!r} is not one of {parameter['enum']}"
            raise ArgoError(msg)
        parameter["value"] = value
    retried = "retryStrategy" in resolved
    local = {"node.name": node}
    if not retried:
        local["pod.name"] = pod_name(workflow, template["name"], node)
    resolved = substitute(resolved, workflow.variables() | local)
    inputs = {f"inputs.parameters.{p['name']}": p["value"] for p in resolved.get("inputs", {}).get("parameters", [])}
    inputs |= {f"inputs.artifacts.{a['name']}.path": a["path"] for a in resolved.get("inputs", {}).get("artifacts", [])}
    for output in resolved.get("outputs", {}).get("parameters", []):
        if "path" in output.get("valueFrom", {}):
            inputs[f"outputs.parameters.{output['name']}.path"] = output["valueFrom"]["path"]
    resolved = substitute(resolved, inputs)
    attempt_node = f"{node}({attempt})" if retried else node
    pod = pod_name(workflow, template["name"], attempt_node)
    if retried:
        resolved = substitute(resolved, {"pod.name": pod, "retries": str(attempt)})
    return Resolved(resolved, node, attempt_node, pod)


# ----- running a step -----------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One attempt of a launcher step: its pod's filesystem, environment, and (once started) the process."""

    resolved: Resolved
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None

    def host(self, container_path: str) -> Path:
        """Where a path of the pod's filesystem lives on this machine."""
        return self.root / container_path.lstrip("/")

    def start(self) -> Step:
        """Start the launcher as the container's command (``command`` + ``args``) with the container's env."""
        container = self.resolved.template["container"]
        if container["command"] != ["vertex-launcher"]:
            msg = f"unexpected command {container['command']}"
            raise ArgoError(msg)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vertex_launcher", *container.get("args", [])],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def terminate(self) -> None:
        """What ``argo stop``/``argo terminate`` does to a running step: SIGTERM (SIGKILL after the grace period)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def finish(self, timeout: float = 120.0) -> StepResult:
        """Wait for the container to exit, then collect the outputs as Argo's executor does."""
        assert self.process is not None
        stdout, stderr = self.process.communicate(timeout=timeout)
        outputs: dict[str, str] = {}
        for output in self.resolved.template.get("outputs", {}).get("parameters", []):
            source = output["valueFrom"]
            path = self.host(source["path"])
            if path.exists():
                outputs[output["name"]] = path.read_text(encoding="utf-8")
            elif "default" in source:
                outputs[output["name"]] = source["default"]
            else:
                msg = f"failed to save outputs: {source['path']} does not exist"
                raise ArgoError(msg)
        return StepResult(Finished(self.process.returncode, stdout, stderr), outputs, self)


@dataclass(frozen=True)
class StepResult:
    """How an attempt ended: the process and the output parameters Argo would record."""

    finished: Finished
    outputs: dict[str, str]
    step: Step

    @property
    def exit_code(self) -> int:
        """The main container's exit code."""
        return self.finished.exit_code

    @property
    def succeeded(self) -> bool:
        """Argo marks the node Succeeded on exit 0."""
        return self.exit_code == 0


def retried(template: Doc, last_exit_code: int) -> bool:
    """Whether the template's retryStrategy retries after an attempt that exited with ``last_exit_code``.

    Only the one expression form k8s/argo uses is understood: ``lastRetry.exitCode == 'N'`` (checked).
    """
    strategy = template.get("retryStrategy")
    if strategy is None:
        return False
    match = re.fullmatch(r"lastRetry\.exitCode == '(\d+)'", strategy.get("expression", ""))
    if match is None or strategy.get("retryPolicy") != "Always":
        msg = f"retryStrategy not understood by this helper: {strategy}"
        raise ArgoError(msg)
    return last_exit_code == int(match.group(1))


class Argo:
    """A launcher step run the way Argo runs it, against the emulator."""

    def __init__(
        self, docs: tuple[Doc, ...], emulator: Emulator, workdir: Path, *, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.docs = docs
        self.emulator = emulator
        self.workdir = workdir
        self.overrides = dict(overrides or {})

    def step(
        self, template: Doc, arguments: Mapping[str, str], workflow: Workflow, *, node: str, attempt: int = 0
    ) -> Step:
        """Prepare one attempt: resolve the template, lay out the pod's files, build the container's env."""
        resolved = resolve(template, arguments, workflow, node=node, attempt=attempt)
        left = argo_tags_left(resolved.template)
        if left:
            msg = f"unresolved Argo variables {left} in {template['name']}"
            raise ArgoError(msg)
        root = self.workdir / resolved.pod
        root.mkdir(parents=True)
        step = Step(resolved, root, {})
        for artifact in resolved.template.get("inputs", {}).get("artifacts", []):
            target = step.host(artifact["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(artifact["raw"]["data"], encoding="utf-8")
        mounts = [mount["mountPath"] for mount in resolved.template["container"].get("volumeMounts", [])]
        for mount in mounts:
            step.host(mount).mkdir(parents=True, exist_ok=True)
        step.host("/dev").mkdir()  # the kubelet's termination message file lives here
        step.env = self._environment(resolved, workflow, step)
        return step

    def _environment(self, resolved: Resolved, workflow: Workflow, step: Step) -> dict[str, str]:
        container = resolved.template["container"]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env |= find(self.docs, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
        downward = {"metadata.namespace": workflow.namespace, "metadata.name": resolved.pod}
        for item in container.get("env", []):
            env[item["name"]] = (
                item["value"] if "value" in item else downward[item["valueFrom"]["fieldRef"]["fieldPath"]]
            )
        # Paths of the pod's filesystem (volumes, input artifacts) → this machine's copy of them.
        paths = [mount["mountPath"] for mount in container.get("volumeMounts", [])]
        paths += [artifact["path"] for artifact in resolved.template.get("inputs", {}).get("artifacts", [])]
        for name, value in env.items():
            for path in paths:
                if value == path or value.startswith(f"{path}/"):
                    env[name] = str(step.host(value))
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(step.root),
            "PYTHONUNBUFFERED": "1",
            **env,
            # Only the way to Vertex is changed: the emulator, no credentials, a fast poll, a writable message.
            "VERTEX_LAUNCHER_API_ENDPOINT": self.emulator.grpc,
            "VERTEX_LAUNCHER_API_INSECURE": "true",
            "VERTEX_LAUNCHER_CREDENTIALS": "anonymous",
            "VERTEX_LAUNCHER_POLL_INITIAL_SECONDS": "0.2",
            "VERTEX_LAUNCHER_POLL_MAX_SECONDS": "1",
            "VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH": str(step.host("/dev/termination-log")),
            **self.overrides,
        }

    def run(self, template: Doc, arguments: Mapping[str, str], workflow: Workflow, *, node: str) -> list[StepResult]:
        """Run a step to the end, retrying as its retryStrategy says (limit included); every attempt's result."""
        limit = int(template.get("retryStrategy", {}).get("limit", 0))
        results: list[StepResult] = []
        for attempt in range(limit + 1):
            results.append(self.step(template, arguments, workflow, node=node, attempt=attempt).start().finish())
            if not retried(template, results[-1].exit_code):
                break
        return results

    def run_dag(self, workflow_template: str, workflow: Workflow) -> dict[str, StepResult | str]:
        """Run the entrypoint DAG of a WorkflowTemplate: task → its last attempt's result, or Skipped/Omitted."""
        spec = find(self.docs, "WorkflowTemplate", workflow_template)["spec"]
        parameters = {p["name"]: p["value"] for p in spec.get("arguments", {}).get("parameters", [])}
        workflow = dataclasses.replace(workflow, parameters={**parameters, **workflow.parameters})
        [entry] = [t for t in spec["templates"] if t["name"] == spec["entrypoint"]]
        scope = workflow.variables()
        done: dict[str, StepResult | str] = {}
        for listed in entry["dag"]["tasks"]:  # listed in dependency order (checked)
            upstream = listed.get("depends") or "".join(listed.get("dependencies", []))
            if upstream and upstream not in done:
                msg = f"task {listed['name']} depends on {upstream!r}, which is not a task listed before it"
                raise ArgoError(msg)
            before = done.get(upstream) if upstream else None
            if isinstance(before, str) or (before is not None and not before.succeeded):
                done[listed["name"]] = "Omitted"
                continue
            task = substitute(listed, scope)
            if "when" in task and not evaluate_when(task["when"]):
                done[task["name"]] = "Skipped"
                continue
            reference = task["templateRef"]
            template = template_of(self.docs, reference["name"], reference["template"])
            arguments = {p["name"]: p["value"] for p in task.get("arguments", {}).get("parameters", [])}
            result = self.run(template, arguments, workflow, node=f"{workflow.name}.{task['name']}")[-1]
            done[task["name"]] = result
            scope |= {f"tasks.{task['name']}.outputs.parameters.{k}": v for k, v in result.outputs.items()}
        return done


def evaluate_when(when: str) -> bool:
    """An already substituted ``when`` of the form ``'a' == 'b'`` or ``'a' != 'b'`` (Argo's govaluate semantics)."""
    match = re.fullmatch(r"\s*'([^']*)'\s*(==|!=)\s*'([^']*)'\s*", when)
    if match is None:
        msg = f"when {when!r}: only 'a' == 'b' and 'a' != 'b' are understood by this helper"
        raise ArgoError(msg)
    left, operator, right = match.groups()
    return (left == right) if operator == "==" else (left != right)
