"""Settings (+ spec file / pipeline template) → the ``JobRequest`` of this run. Pure: no network, no vendor SDK.

Called by the composition root for ``run`` and ``render``. The request body is the REST JSON of a CustomJob or
PipelineJob; ``vertex.canonical`` then checks it against the real protobuf types (unknown field → ConfigError).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from vertex_launcher.errors import ConfigError
from vertex_launcher.jobs import NAMESPACE_LABEL, RUN_LABEL, SCHEDULE_LABEL, JobRequest
from vertex_launcher.settings import Settings
from vertex_launcher.templating import Context, render, render_tree

#: What ``templates.load`` returns: a pipeline spec dict plus the template's own runtime config, or a URI string.
Template = tuple[dict[str, Any], dict[str, Any]] | str
TemplateLoader = Callable[[str], Template]

PROJECT_PLACEHOLDER = "<PROJECT: set VERTEX_LAUNCHER_PROJECT>"
_JOB_SUFFIX = re.compile(r"^(?P<schedule>.+)-(?P<minutes>\d{8,10})$")
_DEFAULT_DISPLAY_NAME = "{{schedule_name}}-{{scheduled_time:%Y%m%d-%H%M}}"


@dataclass(frozen=True)
class Run:
    """Who this run is: its idempotency key, schedule, namespace and logical time."""

    key: str
    schedule: str
    namespace: str | None
    scheduled_time: datetime
    key_is_fresh: bool = False

    @property
    def context(self) -> Context:
        """Placeholder values for this run."""
        return Context(scheduled_time=self.scheduled_time, run_key=self.key, schedule_name=self.schedule)


def describe_run(settings: Settings, now: datetime) -> Run:
    """RUN_KEY / SCHEDULE_NAME / SCHEDULED_TIME, each falling back to what the CronJob's Job tells us."""
    match = _JOB_SUFFIX.match(settings.k8s_job_name or "")
    if match and not _plausible(datetime.fromtimestamp(int(match["minutes"]) * 60, UTC), now):
        match = None  # e.g. a manual `kubectl create job x-$(date +%s)`: seconds, not CronJob minutes
    schedule = settings.schedule_name or (match["schedule"] if match else settings.k8s_job_name) or "vertex-launcher"
    if settings.scheduled_time is not None:
        scheduled = settings.scheduled_time
    elif match:
        scheduled = datetime.fromtimestamp(int(match["minutes"]) * 60, UTC)
    else:
        scheduled = now.replace(microsecond=0)
    key = settings.run_key or settings.k8s_job_uid
    return Run(
        key=key or str(uuid.uuid4()),
        schedule=schedule,
        namespace=settings.k8s_namespace,
        scheduled_time=scheduled,
        key_is_fresh=key is None,
    )


def _plausible(scheduled: datetime, now: datetime) -> bool:
    """A CronJob slot lies in the past year (a late start) or, with clock skew, at most a day ahead."""
    return now - timedelta(days=366) <= scheduled <= now + timedelta(days=1)


def label_value(value: str) -> str:
    """A label value within Vertex's rules: lowercase letters, digits, ``-``, ``_``; at most 63 characters."""
    cleaned = re.sub(r"[^a-z0-9_-]", "-", value.lower())
    if len(cleaned) > 63:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:54]}-{digest}"
    return cleaned


def pipeline_job_id(run: Run) -> str:
    """A deterministic PipelineJob id (``[a-z][-a-z0-9]{0,127}``) so the server rejects a second create of this run."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run.schedule.lower()).strip("-")[:48] or "run"
    if not slug[0].isalpha():
        slug = f"vl-{slug}"
    return f"{slug}-{hashlib.sha256(run.key.encode()).hexdigest()[:16]}"


def build_request(settings: Settings, run: Run, *, project: str | None, load_template: TemplateLoader) -> JobRequest:
    """The create request of this run. Raises ConfigError for anything wrong in the inputs."""
    parent = f"projects/{project or PROJECT_PLACEHOLDER}/locations/{settings.region}"
    labels = {
        **{key: label_value(value) for key, value in settings.labels.items()},
        RUN_LABEL: label_value(run.key),
        SCHEDULE_LABEL: label_value(run.schedule),
    }
    if run.namespace:
        labels[NAMESPACE_LABEL] = label_value(run.namespace)
    display_name = render(
        settings.display_name or _DEFAULT_DISPLAY_NAME, run.context, field="VERTEX_LAUNCHER_DISPLAY_NAME"
    )
    if not display_name or len(display_name) > 128:
        msg = f"VERTEX_LAUNCHER_DISPLAY_NAME: must expand to 1-128 characters (got {len(display_name)})"
        raise ConfigError(msg)
    common = {"displayName": display_name, "labels": labels}
    if settings.job_type == "pipeline":
        return JobRequest(
            kind="pipeline",
            parent=parent,
            body={**common, **_pipeline_body(settings, run, load_template)},
            run_label=labels[RUN_LABEL],
            schedule_label=labels[SCHEDULE_LABEL],
            pipeline_job_id=pipeline_job_id(run),
        )
    return JobRequest(
        kind="custom",
        parent=parent,
        body={**common, "jobSpec": _custom_job_spec(settings, run)},
        run_label=labels[RUN_LABEL],
        schedule_label=labels[SCHEDULE_LABEL],
    )


def _custom_job_spec(settings: Settings, run: Run) -> dict[str, Any]:
    if settings.spec_file is not None:
        from_file = _read_spec_file(settings.spec_file)
        pools = _get(from_file, "workerPoolSpecs", "worker_pool_specs") or []
        for i, pool in enumerate(pools if isinstance(pools, list) else []):
            pool_container = _get(pool, "containerSpec", "container_spec") if isinstance(pool, dict) else None
            if isinstance(pool_container, dict) and isinstance(pool_container.get("args"), list):
                field = f"{settings.spec_file}: workerPoolSpecs[{i}].containerSpec.args"
                pool_container["args"] = render_tree(pool_container["args"], run.context, field=field)
        if settings.service_account:
            existing = _get(from_file, "serviceAccount", "service_account")
            if existing and existing != settings.service_account:
                msg = f"VERTEX_LAUNCHER_SERVICE_ACCOUNT: differs from serviceAccount {existing!r} in the spec file"
                raise ConfigError(msg)
            if not existing:
                from_file["serviceAccount"] = settings.service_account
        return from_file
    container: dict[str, Any] = {"imageUri": settings.image_uri}
    if settings.command:
        container["command"] = settings.command
    if settings.args:
        container["args"] = render_tree(settings.args, run.context, field="VERTEX_LAUNCHER_ARGS")
    if settings.env:
        container["env"] = [{"name": k, "value": v} for k, v in settings.env.items()]
    machine: dict[str, Any] = {"machineType": settings.machine_type}
    if settings.accelerator_type:
        machine |= {"acceleratorType": settings.accelerator_type, "acceleratorCount": settings.accelerator_count}
    spec: dict[str, Any] = {
        "workerPoolSpecs": [
            {"machineSpec": machine, "replicaCount": str(settings.replica_count), "containerSpec": container}
        ]
    }
    if settings.service_account:
        spec["serviceAccount"] = settings.service_account
    return spec


def _read_spec_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"VERTEX_LAUNCHER_SPEC_FILE: cannot read {str(path)!r} ({exc.strerror})"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"VERTEX_LAUNCHER_SPEC_FILE: {str(path)!r} is not valid YAML ({str(exc).splitlines()[0]})"
        raise ConfigError(msg) from None
    if not isinstance(data, dict):
        msg = f"VERTEX_LAUNCHER_SPEC_FILE: {str(path)!r} must hold a CustomJobSpec mapping (workerPoolSpecs, ...)"
        raise ConfigError(msg)
    return data


def _get(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    return mapping.get(camel, mapping.get(snake))


def _pipeline_body(settings: Settings, run: Run, load_template: TemplateLoader) -> dict[str, Any]:
    template = load_template(settings.pipeline_template or "")
    parameters = render_tree(settings.pipeline_parameters, run.context, field="VERTEX_LAUNCHER_PIPELINE_PARAMETERS")
    runtime: dict[str, Any] = {}
    body: dict[str, Any] = {}
    if isinstance(template, str) and template.startswith("gs://"):
        body["pipelineSpec"] = {"_fetchedAtRunTimeFrom": template}  # render only: no network
    elif isinstance(template, str):
        body["templateUri"] = template
    else:
        spec, template_runtime = template
        _check_parameters(spec, parameters)
        body["pipelineSpec"] = spec
        runtime |= {k: v for k, v in template_runtime.items() if k in ("gcsOutputDirectory", "parameterValues")}
        if not (settings.pipeline_root or runtime.get("gcsOutputDirectory") or spec.get("defaultPipelineRoot")):
            msg = "VERTEX_LAUNCHER_PIPELINE_ROOT: required (the template has no defaultPipelineRoot)"
            raise ConfigError(msg)
    if parameters:
        runtime["parameterValues"] = {**runtime.get("parameterValues", {}), **parameters}
    if settings.pipeline_root:
        runtime["gcsOutputDirectory"] = settings.pipeline_root
    if runtime:
        body["runtimeConfig"] = runtime
    if settings.service_account:
        body["serviceAccount"] = settings.service_account
    return body


def _check_parameters(spec: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
    declared: Mapping[str, Any] = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        msg = (
            f"VERTEX_LAUNCHER_PIPELINE_PARAMETERS: unknown parameter(s) {', '.join(unknown)} "
            f"(the pipeline takes: {', '.join(sorted(declared)) or 'none'})"
        )
        raise ConfigError(msg)
    missing = sorted(
        name
        for name, definition in declared.items()
        if name not in parameters and not definition.get("isOptional") and "defaultValue" not in definition
    )
    if missing:
        msg = f"VERTEX_LAUNCHER_PIPELINE_PARAMETERS: missing required parameter(s) {', '.join(missing)}"
        raise ConfigError(msg)
