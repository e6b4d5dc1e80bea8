"""PipelineJobs as Vertex takes them: parameters by schema version, a required root, and runs that fail after create.

Real GAPIC clients over both transports. The KFP 1.8 job file (schema 2.0.0) takes typed ``parameters``; a KFP v2
spec (2.1.0) takes ``parameter_values``. Root and permission problems are not refused at create: the job is made
and then FAILS, as on Vertex.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.aiplatform_v1 import PipelineState

from tests.emulator.jobs import PARENT, kfp18_pipeline_job, pipeline_job
from tests.fixtures.emulator import Emulator

ROOT = "gs://demo-bucket/root"
JOB_SA = "job-sa@demo-project.iam.gserviceaccount.com"
TYPED = {"day": {"string_value": "2026-01-31"}, "epochs": {"int_value": 3}, "learning_rate": {"double_value": 0.1}}


@pytest.fixture(name="pipelines")
def _pipelines(emulator: Emulator, transport: str) -> Any:
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    return emulator.pipeline_client(transport)


def test_a_kfp_1_8_job_with_typed_parameters_is_accepted_and_runs(pipelines: Any) -> None:
    """Schema 2.0.0 with runtime_config.parameters (int/double/string Values by the declared type) succeeds."""
    job = pipelines.create_pipeline_job(
        parent=PARENT, pipeline_job=kfp18_pipeline_job(gcs_output_directory=ROOT, parameters=TYPED)
    )
    done = pipelines.get_pipeline_job(name=job.name)
    assert done.state == PipelineState.PIPELINE_STATE_SUCCEEDED
    assert done.runtime_config.parameters["epochs"].int_value == 3


@pytest.mark.parametrize(
    ("runtime_config", "message"),
    [
        (
            {"parameter_values": {"day": "x", "epochs": 3, "learning_rate": 0.1}},
            r"schema version 2.0.0 takes its parameters in runtime_config.parameters",
        ),
        ({"parameters": {**TYPED, "epochs": {"string_value": "3"}}}, r"'epochs' is declared INT, but .* string_value"),
        ({"parameters": {"day": TYPED["day"]}}, r"'epochs' is required but no value was provided"),
    ],
)
def test_a_kfp_1_8_job_is_refused_in_the_wrong_field_or_with_the_wrong_value_kind(
    pipelines: Any, runtime_config: dict[str, Any], message: str
) -> None:
    """parameter_values for an old schema, a Value of another kind than declared, or a missing value: rejected."""
    job = kfp18_pipeline_job(gcs_output_directory=ROOT, **runtime_config)
    with pytest.raises(exceptions.BadRequest, match=message):
        pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job)


def test_a_v2_spec_takes_parameter_values_not_typed_parameters(pipelines: Any) -> None:
    """The deprecated typed field is for schema <= 2.0.0 only."""
    job = {
        **pipeline_job(),
        "runtime_config": {"gcs_output_directory": ROOT, "parameters": {"epochs": {"int_value": 3}}},
    }
    with pytest.raises(exceptions.BadRequest, match=r"schema version 2.1.0 takes its parameters in .*parameter_values"):
        pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job)


def test_a_v2_value_of_the_wrong_kind_is_accepted_and_the_run_fails_like_the_kfp_driver(
    pipelines: Any,
) -> None:
    """Vertex takes the job; its driver then refuses the input: FAILED, no task ran, the driver's message."""
    job = {**pipeline_job(), "runtime_config": {"gcs_output_directory": ROOT, "parameter_values": {"epochs": "3"}}}
    created = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job)
    done = pipelines.get_pipeline_job(name=created.name)
    assert done.state == PipelineState.PIPELINE_STATE_FAILED
    assert done.error.message == 'input parameter "epochs" type mismatch: expect NUMBER_INTEGER, got string'
    assert list(done.job_detail.task_details) == []


@pytest.mark.parametrize(
    ("buckets", "service_account", "expected"),
    [
        (
            {"other-bucket": ["*"]},
            JOB_SA,
            (5, r'bucket "demo-bucket" of the pipeline root gs://demo-bucket/root does not'),
        ),
        (
            {"demo-bucket": ["someone@demo-project.iam.gserviceaccount.com"]},
            JOB_SA,
            (7, rf"Service account `{JOB_SA}` does not have `\[storage.objects.get, storage.objects.create\]` IAM"),
        ),
        (
            {"demo-bucket": [JOB_SA]},
            "",
            (7, r"Service account `123456789012-compute@developer.gserviceaccount.com` does not have"),
        ),
    ],
)
def test_a_root_the_jobs_service_account_cannot_write_fails_the_job_after_create(
    emulator_factory: Any, transport: str, buckets: Any, service_account: str, expected: tuple[int, str]
) -> None:
    """A missing bucket, or one the runtime SA (else the Compute Engine default SA) may not write: FAILED."""
    emulator = emulator_factory("--queued-seconds", "0", "--project-number", "123456789012")
    emulator.configure(buckets=buckets)
    client = emulator.pipeline_client(transport)
    created = client.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(service_account=service_account))
    done = client.get_pipeline_job(name=created.name)
    assert done.state == PipelineState.PIPELINE_STATE_FAILED
    assert done.error.code == expected[0]
    assert done.error.message.startswith("Failed to create pipeline job. Error: ")
    assert re.search(expected[1], done.error.message)
    assert list(done.job_detail.task_details) == []


def test_a_root_the_service_account_may_write_runs(emulator: Emulator, pipelines: Any) -> None:
    """With buckets configured, a listed bucket and a granted runtime service account: the job succeeds."""
    emulator.configure(buckets={"demo-bucket": [JOB_SA]})
    created = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(service_account=JOB_SA))
    assert pipelines.get_pipeline_job(name=created.name).state == PipelineState.PIPELINE_STATE_SUCCEEDED


def test_buckets_must_map_names_to_service_account_lists(emulator: Emulator) -> None:
    """A malformed buckets setting is a 400 from the control API and changes nothing."""
    with pytest.raises(Exception, match="buckets must map bucket names"):
        emulator.configure(buckets={"demo-bucket": "everyone"})
    assert emulator.configure()["buckets"] == {}
