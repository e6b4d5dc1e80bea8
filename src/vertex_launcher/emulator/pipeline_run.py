"""What a created PipelineJob meets before its first task runs: its pipeline root's bucket and its inputs.

Vertex accepts such a job and then fails it: PIPELINE_STATE_FAILED with ``error`` set. ``service.Api._create``
asks ``setup_failure`` and, when it answers, the job's ``Timeline`` goes from QUEUED straight to FAILED with that
error (no task runs, so ``job_detail`` stays empty).

- The root bucket, when the runtime configuration names ``buckets`` (``{"bucket": ["sa@…", "*"]}``: the service
  accounts that may read and create objects there): a bucket that is not listed does not exist; a listed one the
  job's service account (its ``service_account``, else the project's Compute Engine default service account) may
  not write is refused with the message Vertex users report (issue statmike/vertex-ai-mlops#60). Without
  ``buckets`` every bucket exists and is writable.
- Inputs of a schema > 2.0.0 spec: the type check the KFP driver makes on ``parameter_values`` (a STRING parameter
  takes anything; the others only their own kind), worded like the driver's error.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from vertex_launcher.emulator.validation import LAST_TYPED_SCHEMA, declared_parameters, schema_version

PERMISSION_DENIED, NOT_FOUND, FAILED_PRECONDITION = 7, 5, 9
_KIND_NAMES = {
    "string_value": ("string", {"STRING"}),
    "number_value": ("number", {"NUMBER_DOUBLE", "NUMBER_INTEGER"}),
    "bool_value": ("bool", {"BOOLEAN"}),
    "list_value": ("list", {"LIST"}),
    "struct_value": ("struct", {"STRUCT", "TASK_FINAL_STATUS", "TASK_CONFIG"}),
}


def setup_failure(
    job: Any, *, buckets: dict[str, list[str]] | None, default_service_account: str
) -> tuple[int, str] | None:
    """(google.rpc code, message) of the failure this job's run meets before any task, or None."""
    return _root_failure(job, buckets, job.service_account or default_service_account) or _input_failure(job)


def _root_failure(job: Any, buckets: dict[str, list[str]] | None, service_account: str) -> tuple[int, str] | None:
    root = job.runtime_config.gcs_output_directory
    if not buckets or not root.startswith("gs://"):
        return None
    bucket = root.removeprefix("gs://").split("/", 1)[0]
    if bucket not in buckets:
        message = (
            f'Failed to create pipeline job. Error: The Cloud Storage bucket "{bucket}" of the pipeline root {root} '
            "does not exist."
        )
        return NOT_FOUND, message
    writers = buckets[bucket]
    if "*" in writers or service_account in writers:
        return None
    message = (
        f"Failed to create pipeline job. Error: Service account `{service_account}` does not have "
        f'`[storage.objects.get, storage.objects.create]` IAM permission(s) to the bucket "{bucket}". Please either '
        "copy the files to the Google Cloud Storage bucket owned by your project, or grant the required IAM "
        "permission(s) to the service account."
    )
    return PERMISSION_DENIED, message


def _input_failure(job: Any) -> tuple[int, str] | None:
    if not (job.HasField("pipeline_spec") and job.pipeline_spec.fields):
        return None
    spec = json_format.MessageToDict(job.pipeline_spec)
    version = schema_version(spec)
    if version is None or version <= LAST_TYPED_SCHEMA:
        return None
    declared = declared_parameters(spec)
    for name, value in sorted(job.runtime_config.parameter_values.items()):
        expected = str(declared.get(name, {}).get("parameterType", ""))
        kind = value.WhichOneof("kind")
        if kind == "null_value":
            return FAILED_PRECONDITION, f'got null for input parameter "{name}"'
        shown, accepted = _KIND_NAMES.get(kind or "", ("unknown", set()))
        if expected and expected != "STRING" and expected not in accepted:
            return FAILED_PRECONDITION, f'input parameter "{name}" type mismatch: expect {expected}, got {shown}'
    return None
