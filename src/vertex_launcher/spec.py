"""Settings (+ spec file / pipeline template) → the ``JobRequest`` of this run. Pure: no network, no vendor SDK.

Called by the composition root for ``run`` and ``render``. The request body is the REST JSON of a CustomJob or
PipelineJob; ``vertex.canonical`` then checks it against the real protobuf types (unknown field → ConfigError).
A spec file is a CustomJobSpec (gcloud's ``--config``) or a whole CustomJob; env settings that name the same field
must agree with it. A pipeline's ``runtimeConfig`` comes from ``runtime_config`` (the Vertex SDK's rules).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from vertex_launcher.errors import ConfigError
from vertex_launcher.jobs import ATTEMPT_LABEL, FALLBACK_LABEL, NAMESPACE_LABEL, RUN_LABEL, SCHEDULE_LABEL, JobRequest
from vertex_launcher.runtime_config import build_runtime_config
from vertex_launcher.settings import Settings
from vertex_launcher.templating import Context, render, render_tree


@dataclass(frozen=True)
class Template:
    """A pipeline template (``templates.make_loader``): where it lives and, once read, its spec and runtime config."""

    location: str
    spec: dict[str, Any] | None = None  # None: not read (``render`` stays offline)
    runtime: dict[str, Any] = field(default_factory=dict)  # the older job format's own runtimeConfig
    template_uri: str | None = None  # an Artifact Registry template is also sent as PipelineJob.template_uri


TemplateLoader = Callable[[str], Template]

PROJECT_PLACEHOLDER = "<PROJECT: set VERTEX_LAUNCHER_PROJECT>"
#: ``render`` of a remote template without PIPELINE_ROOT: the run takes the template's defaultPipelineRoot.
UNREAD_ROOT = "<the template's defaultPipelineRoot, read at run time>"
_JOB_SUFFIX = re.compile(r"^(?P<schedule>.+)-(?P<minutes>\d{8,10})$")
_DEFAULT_DISPLAY_NAME = "{{schedule_name}}-{{scheduled_time:%Y%m%d-%H%M}}"
SPEC_FILE = "VERTEX_LAUNCHER_SPEC_FILE"
#: The fields of a whole CustomJob a spec file may set (the others are output only).
_CUSTOM_JOB_KEYS = ("displayName", "jobSpec", "labels", "encryptionSpec")


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
    if settings.job_type == "pipeline":
        body = _pipeline_body(settings, run, load_template)
        from_file: dict[str, Any] = {}
    else:
        from_file = _custom_job_from_file(settings.spec_file, run) if settings.spec_file is not None else {}
        body = {"jobSpec": from_file.pop("jobSpec") if from_file else _custom_job_spec_from_env(settings, run)}
        _merge_setting(body["jobSpec"], "serviceAccount", settings.service_account, "SERVICE_ACCOUNT")
        _network_settings(settings, target=body["jobSpec"], file_field="jobSpec.network")
        _encryption_setting(settings, body, from_file.pop("encryptionSpec", None))
    labels = _labels(settings, run, from_file.pop("labels", {}))
    body = {"displayName": _display_name(settings, run, from_file.pop("displayName", None)), "labels": labels, **body}
    return JobRequest(
        kind=settings.job_type,
        parent=parent,
        body=body,
        run_label=labels[RUN_LABEL],
        schedule_label=labels[SCHEDULE_LABEL],
        pipeline_job_id=pipeline_job_id(run) if settings.job_type == "pipeline" else None,
        namespace_label=labels.get(NAMESPACE_LABEL),
    )


def _labels(settings: Settings, run: Run, from_file: dict[str, Any]) -> dict[str, str]:
    """The file's labels, LABELS, then ours (which always win: a file naming one of our keys is an error)."""
    ours = {RUN_LABEL: label_value(run.key), SCHEDULE_LABEL: label_value(run.schedule), ATTEMPT_LABEL: "1"}
    if run.namespace:
        ours[NAMESPACE_LABEL] = label_value(run.namespace)
    from_file = {str(key): str(value) for key, value in from_file.items()}  # YAML may read `version: 2` as a number
    for key, value in from_file.items():
        if key in (RUN_LABEL, SCHEDULE_LABEL, NAMESPACE_LABEL, ATTEMPT_LABEL, FALLBACK_LABEL):
            msg = f"{SPEC_FILE}: labels.{key} is set by the launcher for every run; remove it from the spec file"
            raise ConfigError(msg)
        if key in settings.labels and settings.labels[key] != value:
            msg = (
                f"VERTEX_LAUNCHER_LABELS: {key}={settings.labels[key]!r} differs from labels.{key}={value!r} "
                "in the spec file"
            )
            raise ConfigError(msg)
    # LABELS values are sanitised like ours (Vertex rejects upper case, dots...); keys were checked by Settings.
    return {**from_file, **{key: label_value(value) for key, value in settings.labels.items()}, **ours}


def _display_name(settings: Settings, run: Run, from_file: Any) -> str:
    """DISPLAY_NAME, else the spec file's displayName, else the default; all take placeholders."""
    if from_file is not None and settings.display_name is not None and from_file != settings.display_name:
        msg = f"VERTEX_LAUNCHER_DISPLAY_NAME: differs from displayName {from_file!r} in the spec file"
        raise ConfigError(msg)
    field = "VERTEX_LAUNCHER_DISPLAY_NAME" if from_file is None else f"{SPEC_FILE}: displayName"
    template = settings.display_name or (str(from_file) if from_file is not None else _DEFAULT_DISPLAY_NAME)
    display_name = render(template, run.context, field=field)
    if not display_name or len(display_name) > 128:
        msg = f"{field}: must expand to 1-128 characters (got {len(display_name)})"
        raise ConfigError(msg)
    return display_name


def _merge_setting(target: dict[str, Any], key: str, value: Any, setting: str) -> None:
    """Put a setting's value into ``target[key]``, unless the spec file set it already: then both must agree."""
    existing = _pop(target, key)
    if value is not None and existing is not None and existing != value:
        msg = f"VERTEX_LAUNCHER_{setting}: {value!r} differs from {key} {existing!r} in the spec file"
        raise ConfigError(msg)
    chosen = existing if existing is not None else value
    if chosen is not None:
        target[key] = chosen


def _network_settings(settings: Settings, *, target: dict[str, Any], file_field: str | None = None) -> None:
    """NETWORK / RESERVED_IP_RANGES into ``target`` (the CustomJobSpec, or the PipelineJob itself)."""
    ranges = _pop(target, "reservedIpRanges", keep=True)
    if isinstance(ranges, str):  # one name, as gcloud's --config accepts it
        target["reservedIpRanges"] = [ranges]
    _merge_setting(target, "network", settings.network, "NETWORK")
    _merge_setting(target, "reservedIpRanges", settings.reserved_ip_ranges, "RESERVED_IP_RANGES")
    if target.get("reservedIpRanges") and not target.get("network"):
        where = f" or {file_field} in the spec file" if file_field else ""
        msg = f"VERTEX_LAUNCHER_RESERVED_IP_RANGES: reserved IP ranges need a network (VERTEX_LAUNCHER_NETWORK{where})"
        raise ConfigError(msg)


def _encryption_setting(settings: Settings, body: dict[str, Any], from_file: Any) -> None:
    """ENCRYPTION_SPEC_KEY_NAME as the job's encryptionSpec (CMEK), or the spec file's own encryptionSpec."""
    if from_file is not None and not isinstance(from_file, dict):
        msg = f"{SPEC_FILE}: encryptionSpec must be a mapping like {{kmsKeyName: projects/.../cryptoKeys/...}}"
        raise ConfigError(msg)
    spec = dict(from_file or {})
    _merge_setting(spec, "kmsKeyName", settings.encryption_spec_key_name, "ENCRYPTION_SPEC_KEY_NAME")
    if spec:
        body["encryptionSpec"] = spec


def _custom_job_spec_from_env(settings: Settings, run: Run) -> dict[str, Any]:
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
    return {
        "workerPoolSpecs": [
            {"machineSpec": machine, "replicaCount": str(settings.replica_count), "containerSpec": container}
        ]
    }


def _custom_job_from_file(path: Path, run: Run) -> dict[str, Any]:
    """The spec file as ``{"jobSpec": ..., and a whole CustomJob's displayName, labels, encryptionSpec}``.

    The file is a CustomJobSpec (what ``gcloud ai custom-jobs create --config`` takes) or a whole CustomJob (it has
    ``jobSpec``). Like gcloud, a ``workerPoolSpecs`` written as one mapping is that one worker pool.
    """
    data = _read_spec_file(path)
    if _pop(data, "jobSpec", keep=True) is None:
        job: dict[str, Any] = {"jobSpec": data}
    else:
        unknown = sorted(set(data) - {_snake(key) for key in _CUSTOM_JOB_KEYS} - set(_CUSTOM_JOB_KEYS))
        if unknown:
            msg = (
                f"{SPEC_FILE}: {str(path)!r} is a CustomJob (it has jobSpec), which takes only "
                f"{', '.join(_CUSTOM_JOB_KEYS)}; not {', '.join(unknown)}"
            )
            raise ConfigError(msg)
        job = {key: value for key in _CUSTOM_JOB_KEYS if (value := _pop(data, key)) is not None}
        if not isinstance(job["jobSpec"], dict) or not isinstance(job.get("labels", {}), dict):
            msg = f"{SPEC_FILE}: {str(path)!r}: jobSpec and labels must be mappings"
            raise ConfigError(msg)
    spec = job["jobSpec"]
    pools = _pop(spec, "workerPoolSpecs")
    if pools is not None:
        spec["workerPoolSpecs"] = [pools] if isinstance(pools, dict) else pools
    for i, pool in enumerate(spec.get("workerPoolSpecs") or []):
        pool_container = _pop(pool, "containerSpec", keep=True) if isinstance(pool, dict) else None
        if isinstance(pool_container, dict) and isinstance(pool_container.get("args"), list | str):
            field = f"{path}: workerPoolSpecs[{i}].containerSpec.args"
            pool_container["args"] = render_tree(pool_container["args"], run.context, field=field)
    return job


def _read_spec_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"{SPEC_FILE}: cannot read {str(path)!r} ({exc.strerror})"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{SPEC_FILE}: {str(path)!r} is not valid YAML ({str(exc).splitlines()[0]})"
        raise ConfigError(msg) from None
    if not isinstance(data, dict):
        msg = f"{SPEC_FILE}: {str(path)!r} must hold a CustomJobSpec mapping (workerPoolSpecs, ...) or a CustomJob"
        raise ConfigError(msg)
    return data


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _pop(mapping: dict[str, Any], camel: str, *, keep: bool = False) -> Any:
    """The value under ``camel`` or its snake_case spelling (both accepted, as the REST JSON parser does).

    Removed from ``mapping``, unless ``keep``: then it stays, under its camelCase name.
    """
    value = mapping.pop(camel, None)
    snake = mapping.pop(_snake(camel), None)
    if value is not None and snake is not None:
        msg = f"{SPEC_FILE}: {camel} and {_snake(camel)} are the same field; keep one"
        raise ConfigError(msg)
    found = value if value is not None else snake
    if keep and found is not None:
        mapping[camel] = found
    return found


def _pipeline_body(settings: Settings, run: Run, load_template: TemplateLoader) -> dict[str, Any]:
    template = load_template(settings.pipeline_template or "")
    parameters = render_tree(settings.pipeline_parameters, run.context, field="VERTEX_LAUNCHER_PIPELINE_PARAMETERS")
    body: dict[str, Any] = {}
    if template.spec is None:  # render: a remote template is read only at run time
        body["pipelineSpec"] = {
            "_fetchedAtRunTimeFrom": template.location,
            "_note": "render is offline: the run reads this template, checks the parameters against it, "
            "types them for its schema version and takes its defaultPipelineRoot",
        }
        runtime: dict[str, Any] = {"gcsOutputDirectory": settings.pipeline_root or UNREAD_ROOT}
        if parameters:
            runtime["parameterValues"] = parameters
    else:
        body["pipelineSpec"] = template.spec
        runtime = build_runtime_config(
            template.spec, template.runtime, parameters, pipeline_root=settings.pipeline_root
        )
    body["runtimeConfig"] = runtime
    if template.template_uri:
        body["templateUri"] = template.template_uri
    if settings.service_account:
        body["serviceAccount"] = settings.service_account
    _network_settings(settings, target=body)
    _encryption_setting(settings, body, None)
    return body
