"""Create-request validation like Vertex's (INVALID_ARGUMENT, "List of found errors" style) and GPU quota.

Called by ``service.Api`` before a job is stored. Messages name the field path the client sent, e.g.
``custom_job.job_spec.worker_pool_specs[0].machine_spec.machine_type``.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format

from vertex_launcher.emulator.errors import ApiError, allocation_quota_exceeded

PIPELINE_JOB_ID_RE = re.compile(r"^[a-z][-a-z0-9]{0,127}$")
MAX_LABELS = 64
MAX_LABEL_LENGTH = 63
#: Pipeline specs up to this schema version (KFP <= 1.8) take typed ``runtime_config.parameters``.
LAST_TYPED_SCHEMA = (2, 0, 0)
_TYPED_VALUE_KIND = {"INT": "int_value", "DOUBLE": "double_value", "STRING": "string_value"}


def _found(errors: list[str]) -> ApiError:
    lines = "".join(f"\t{i}.{error}" for i, error in enumerate(errors, start=1))
    return ApiError("INVALID_ARGUMENT", f"List of found errors:{lines}\t")


def _required(path: str) -> str:
    return f"Field: {path}; Message: Required field is not set."


def _label_char_ok(char: str) -> bool:
    return char in "_-" or char.isdigit() or (char.isalpha() and not char.isupper())


def label_errors(labels: dict[str, str], path: str) -> list[str]:
    """Vertex label rules: at most 64 labels of lowercase letters, digits, ``_`` and ``-``.

    Keys are 1-63 characters and start with a lowercase letter; values are at most 63 characters.
    """
    errors: list[str] = []
    if len(labels) > MAX_LABELS:
        errors.append(f"Field: {path}; Message: At most {MAX_LABELS} labels are allowed, got {len(labels)}.")
    for key, value in sorted(labels.items()):
        key_ok = (
            0 < len(key) <= MAX_LABEL_LENGTH
            and key[0].isalpha()
            and not key[0].isupper()
            and all(_label_char_ok(c) for c in key)
        )
        if not key_ok:
            errors.append(
                f"Field: {path}; Message: Label key {key!r} is invalid: keys must be 1-63 characters, start with a "
                "lowercase letter and contain only lowercase letters, digits, '_' and '-'."
            )
        if len(value) > MAX_LABEL_LENGTH or not all(_label_char_ok(c) for c in value):
            errors.append(
                f"Field: {path}; Message: Label value {value!r} of key {key!r} is invalid: values must be at most "
                "63 characters of lowercase letters, digits, '_' and '-'."
            )
    return errors


def validate_custom_job(job: Any) -> None:
    """Raise INVALID_ARGUMENT unless the CustomJob is submittable."""
    errors: list[str] = []
    if not job.display_name:
        errors.append(_required("custom_job.display_name"))
    pools = job.job_spec.worker_pool_specs
    if not pools:
        errors.append(_required("custom_job.job_spec.worker_pool_specs"))
    for index, pool in enumerate(pools):
        path = f"custom_job.job_spec.worker_pool_specs[{index}]"
        empty = not pool.ListFields()
        if empty and index > 0:
            continue  # an empty placeholder pool is allowed after the first
        if not pool.machine_spec.machine_type:
            errors.append(_required(f"{path}.machine_spec.machine_type"))
        if pool.machine_spec.accelerator_count and not pool.machine_spec.accelerator_type:
            errors.append(_required(f"{path}.machine_spec.accelerator_type"))
        if index == 0 and pool.replica_count < 1:
            errors.append(f"Field: {path}.replica_count; Message: The first worker pool needs replica_count >= 1.")
        has_container = bool(pool.container_spec.image_uri)
        python = pool.python_package_spec
        has_python = bool(python.executor_image_uri and python.package_uris and python.python_module)
        if not (has_container or has_python):
            errors.append(_required(f"{path}.container_spec.image_uri"))
    errors += label_errors(dict(job.labels), "custom_job.labels")
    if errors:
        raise _found(errors)


def validate_pipeline_job(job: Any, job_id: str) -> None:
    """Raise INVALID_ARGUMENT unless the PipelineJob (and its requested id) is submittable."""
    errors: list[str] = []
    if job_id and not PIPELINE_JOB_ID_RE.match(job_id):
        errors.append(f"Field: pipeline_job_id; Message: {job_id!r} does not match [a-z][-a-z0-9]{{0,127}}.")
    has_spec = job.HasField("pipeline_spec") and bool(job.pipeline_spec.fields)
    if not has_spec and not job.template_uri:
        errors.append(_required("pipeline_job.pipeline_spec"))
    root = job.runtime_config.gcs_output_directory
    if not root:  # "Required" in the API reference; the SDK always fills it (defaultPipelineRoot at the latest)
        errors.append(_required("pipeline_job.runtime_config.gcs_output_directory"))
    elif not root.startswith("gs://"):
        errors.append(f"Field: pipeline_job.runtime_config.gcs_output_directory; Message: {root!r} is not a gs:// URI.")
    if has_spec:
        errors += _parameter_errors(json_format.MessageToDict(job.pipeline_spec), job.runtime_config)
    errors += label_errors(dict(job.labels), "pipeline_job.labels")
    if errors:
        raise _found(errors)


def schema_version(spec: dict[str, Any]) -> tuple[int, ...] | None:
    """``schemaVersion`` of a pipeline spec as a tuple, None when missing or malformed."""
    raw = spec.get("schemaVersion")
    if not isinstance(raw, str) or not re.fullmatch(r"\d+(\.\d+)*", raw):
        return None
    return tuple(int(part) for part in raw.split("."))


def declared_parameters(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``root.inputDefinitions.parameters``: name → definition."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    if not isinstance(declared, dict):
        return {}
    return {name: d if isinstance(d, dict) else {} for name, d in declared.items()}


def _parameter_errors(spec: dict[str, Any], runtime: Any) -> list[str]:
    """Schema 2.0.0 and older take typed ``parameters`` (by the declared ``type``); newer ones ``parameter_values``."""
    version = schema_version(spec)
    if version is None:
        return [_required("pipeline_job.pipeline_spec.schema_version")]
    typed = version <= LAST_TYPED_SCHEMA
    field, other = ("parameters", "parameter_values") if typed else ("parameter_values", "parameters")
    raw_version = spec["schemaVersion"]
    errors = []
    if len(getattr(runtime, other)):
        errors.append(
            f"Field: pipeline_job.runtime_config.{other}; Message: A pipeline spec of schema version {raw_version} "
            f"takes its parameters in runtime_config.{field}."
        )
    declared = declared_parameters(spec)
    given = getattr(runtime, field)
    errors += [
        f"Field: pipeline_job.runtime_config.{field}; Message: The pipeline parameter {name!r} is not "
        "found in the pipeline job input definitions."
        for name in sorted(set(given) - set(declared))
    ]
    for name, definition in sorted(declared.items()):
        optional = not typed and ("defaultValue" in definition or definition.get("isOptional"))
        if name not in given and not optional:
            errors.append(
                f"Field: pipeline_job.runtime_config.{field}; Message: The pipeline parameter {name!r} "
                "is required but no value was provided."
            )
        if typed and name in given:
            declared_type = str(definition.get("type") or definition.get("parameterType") or "")
            kind = given[name].WhichOneof("value")
            if _TYPED_VALUE_KIND.get(declared_type) != kind:
                errors.append(
                    f"Field: pipeline_job.runtime_config.parameters[{name!r}]; Message: The pipeline parameter "
                    f"{name!r} is declared {declared_type or 'without a type'}, but its value is a {kind}."
                )
    return errors


def gpu_metric(accelerator_type: str) -> str:
    """Vertex's training quota metric of an accelerator (NVIDIA_TESLA_T4 → custom_model_training_nvidia_t4_gpus)."""
    return f"custom_model_training_{accelerator_type.lower().replace('tesla_', '')}_gpus"


def check_gpu_quota(job: Any, quota: dict[str, float]) -> None:
    """RESOURCE_EXHAUSTED if the CustomJob asks for more accelerators of one type than the quota allows."""
    if not quota:
        return
    wanted: dict[str, int] = {}
    for pool in job.job_spec.worker_pool_specs:
        count = pool.machine_spec.accelerator_count
        if not count:
            continue
        name = (
            type(pool.machine_spec)
            .DESCRIPTOR.fields_by_name["accelerator_type"]
            .enum_type.values_by_number[pool.machine_spec.accelerator_type]
            .name
        )
        wanted[name] = wanted.get(name, 0) + count * max(pool.replica_count, 1)
    for name, count in sorted(wanted.items()):
        limit = quota.get(name.upper())
        if limit is not None and count > limit:
            raise allocation_quota_exceeded(gpu_metric(name))
