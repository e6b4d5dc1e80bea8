"""Request bodies shared by the emulator tests: a minimal valid CustomJob and a compiled-pipeline PipelineJob."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KFP18_JOB = Path(__file__).resolve().parent.parent / "fixtures" / "templates" / "kfp-1.8-nightly-train.json"
PARENT = "projects/demo-project/locations/us-central1"


def custom_job(display_name: str = "train", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A CustomJob dict with one worker pool; ``spec`` keys override/extend the job_spec."""
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "us-docker.pkg.dev/demo/train:1", "args": ["--epochs", "1"]},
    }
    return {
        "display_name": display_name,
        "labels": labels or {},
        "job_spec": {"worker_pool_specs": [pool], **spec},
    }


def pipeline_spec(*tasks: str, root: str | None = "gs://demo-bucket/root") -> dict[str, Any]:
    """A KFP v2 IR pipeline spec with the given task names and one optional parameter ``epochs``."""
    spec: dict[str, Any] = {
        "pipelineInfo": {"name": "demo-pipeline"},
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.16.0",
        "root": {
            "dag": {"tasks": {name: {"taskInfo": {"name": name}} for name in tasks}},
            "inputDefinitions": {
                "parameters": {"epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1, "isOptional": True}}
            },
        },
    }
    if root:
        spec["defaultPipelineRoot"] = root
    return spec


def pipeline_job(*tasks: str, labels: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """A PipelineJob dict from ``pipeline_spec(*tasks)``; ``fields`` override top-level fields."""
    return {
        "display_name": "nightly",
        "labels": labels or {},
        "pipeline_spec": pipeline_spec(*(tasks or ("prepare", "train"))),
        "runtime_config": {"gcs_output_directory": "gs://demo-bucket/root", "parameter_values": {"epochs": 3}},
        **fields,
    }


def kfp18_pipeline_job(**runtime_config: Any) -> dict[str, Any]:
    """A PipelineJob dict of the KFP 1.8 job file (schema 2.0.0); ``runtime_config`` replaces the file's own."""
    data = json.loads(KFP18_JOB.read_text(encoding="utf-8"))
    return {"display_name": "kfp18", "pipeline_spec": data["pipelineSpec"], "runtime_config": runtime_config}
