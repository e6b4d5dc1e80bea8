"""Vertex's quotas in the emulator: the GPU allocation quota, and the two per-minute request quotas (600 CRUD calls,
60 job submissions, per project and region), each with its own sliding window and the real error shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.protobuf import json_format
from google.protobuf.message import Message

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator, EmulatorError

SUBMISSIONS = "aiplatform.googleapis.com/job_submission_requests"
CRUD = "aiplatform.googleapis.com/resource_management_requests"


def details(error: exceptions.GoogleAPICallError) -> dict[str, dict[str, Any]]:
    """The error's google.rpc details by type name, in their JSON form, from either transport."""
    out = {}
    for detail in error.details:
        if isinstance(detail, Message):
            out[detail.DESCRIPTOR.name] = json_format.MessageToDict(detail)
        else:
            out[detail["@type"].rsplit(".", 1)[1]] = detail
    return out


def refused(call: Any) -> exceptions.TooManyRequests:
    """Make the call, which must be answered 429/RESOURCE_EXHAUSTED."""
    with pytest.raises(exceptions.TooManyRequests) as caught:
        call()
    return caught.value


def test_a_job_over_the_gpu_quota_answers_the_public_allocation_shape(emulator: Emulator, transport: str) -> None:
    """Allocation quota: 429 "The following quota metrics exceed quota limits: <metric>", no details, no job."""
    emulator.configure(gpu_quota={"NVIDIA_TESLA_T4": 4})
    jobs = emulator.job_client(transport)
    pool: dict[str, Any] = {
        "machine_spec": {
            "machine_type": "n1-standard-8",
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 2,
        },
        "replica_count": 2,
        "container_spec": {"image_uri": "img"},
    }
    jobs.create_custom_job(parent=PARENT, custom_job={**custom_job(), "job_spec": {"worker_pool_specs": [pool]}})
    pool["replica_count"] = 3
    error = refused(
        lambda: jobs.create_custom_job(
            parent=PARENT, custom_job={**custom_job(), "job_spec": {"worker_pool_specs": [pool]}}
        )
    )
    metric = "aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus"
    assert error.message.endswith(f"The following quota metrics exceed quota limits: {metric}")
    assert error.details == []
    assert len(emulator.jobs()) == 1


def test_the_crud_quota_answers_googles_rate_limit_shape_without_retry_info(emulator: Emulator, transport: str) -> None:
    """Above rate_limit_per_minute reads in a minute: Google's message, ErrorInfo RATE_LIMIT_EXCEEDED with the quota
    metadata, a QuotaFailure naming the per-minute quota, and no RetryInfo (Vertex documents none)."""
    emulator.configure(rate_limit_per_minute=3)
    jobs = emulator.job_client(transport)
    for _ in range(3):
        list(jobs.list_custom_jobs(request={"parent": PARENT}))
    error = refused(lambda: jobs.get_custom_job(name=f"{PARENT}/customJobs/1"))
    assert (
        "Quota exceeded for quota metric 'Resource management (CRUD) requests' and limit 'Resource management (CRUD) "
        "requests per minute per region' of service 'aiplatform.googleapis.com' for consumer "
        "'project_number:demo-project'." in error.message
    )
    found = details(error)
    assert sorted(found) == ["ErrorInfo", "QuotaFailure"]
    assert error.reason == "RATE_LIMIT_EXCEEDED"
    assert found["ErrorInfo"]["metadata"] == {
        "quota_metric": CRUD,
        "quota_limit": "ResourceManagementRequestsPerMinutePerProjectPerRegion",
        "quota_limit_value": "3",
        "quota_location": "us-central1",
        "quota_unit": "1/min/{project}/{region}",
        "consumer": "projects/demo-project",
        "service": "aiplatform.googleapis.com",
    }
    [violation] = found["QuotaFailure"]["violations"]
    assert (violation["quotaMetric"], violation["quotaId"]) == (
        CRUD,
        "ResourceManagementRequestsPerMinutePerProjectPerRegion",
    )
    assert emulator.requests("GetCustomJob")[0]["code"] == "RESOURCE_EXHAUSTED"


def test_creates_count_against_the_submission_quota_only(emulator: Emulator, transport: str) -> None:
    """submission_limit_per_minute bounds creates of both kinds together; reads do not use it, nor creates the CRUD
    window: with 2 submissions and 2 reads allowed, the third create and the third read are refused."""
    emulator.configure(submission_limit_per_minute=2, rate_limit_per_minute=2)
    jobs, pipelines = emulator.job_client(transport), emulator.pipeline_client(transport)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
    error = refused(lambda: jobs.create_custom_job(parent=PARENT, custom_job=custom_job()))
    assert "'Job or long-running operation (LRO) submission requests'" in error.message
    assert details(error)["ErrorInfo"]["metadata"]["quota_metric"] == SUBMISSIONS
    assert details(error)["ErrorInfo"]["metadata"]["quota_limit_value"] == "2"
    jobs.get_custom_job(name=job.name)
    list(jobs.list_custom_jobs(request={"parent": PARENT}))
    refused(lambda: jobs.cancel_custom_job(name=job.name))
    assert len(emulator.jobs()) == 2


def test_each_project_and_region_has_its_own_window(emulator: Emulator) -> None:
    """Vertex's quotas are per project and region: a full window in one leaves the others alone."""
    emulator.configure(submission_limit_per_minute=1)
    jobs = emulator.job_client("grpc")
    jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    refused(lambda: jobs.create_custom_job(parent=PARENT, custom_job=custom_job()))
    jobs.create_custom_job(parent="projects/demo-project/locations/europe-west4", custom_job=custom_job())
    jobs.create_custom_job(parent="projects/other-project/locations/us-central1", custom_job=custom_job())
    assert len(emulator.jobs()) == 3


def test_retry_info_is_sent_only_when_configured(emulator: Emulator, transport: str) -> None:
    """rate_limit_retry_info: a RetryInfo saying when the window frees a slot (at most a minute)."""
    emulator.configure(submission_limit_per_minute=1, rate_limit_retry_info=True)
    jobs = emulator.job_client(transport)
    jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    error = refused(lambda: jobs.create_custom_job(parent=PARENT, custom_job=custom_job()))
    delay = float(details(error)["RetryInfo"]["retryDelay"].rstrip("s"))
    assert 0 < delay <= 60


def test_a_rejected_call_does_not_use_up_the_window(emulator: Emulator) -> None:
    """Only accepted calls count: refusals do not push the next free slot further out."""
    emulator.configure(rate_limit_per_minute=1)
    jobs = emulator.job_client("grpc")
    list(jobs.list_custom_jobs(request={"parent": PARENT}))
    for _ in range(3):
        refused(lambda: list(jobs.list_custom_jobs(request={"parent": PARENT})))
    codes = [entry["code"] for entry in emulator.requests("ListCustomJobs")]
    assert codes == ["OK", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED"]


def test_an_injected_rate_limit_names_the_quota_of_the_method(jobs: Any, emulator: Emulator) -> None:
    """A RESOURCE_EXHAUSTED fault without a message is the rate limit of the method's quota, without RetryInfo
    unless retry_delay_seconds asks for one."""
    emulator.add_faults(
        [
            {"method": "CreateCustomJob", "code": "RESOURCE_EXHAUSTED"},
            {"method": "GetCustomJob", "code": "RESOURCE_EXHAUSTED", "retry_delay_seconds": 2},
        ]
    )
    create = refused(lambda: jobs.create_custom_job(parent=PARENT, custom_job=custom_job()))
    assert details(create)["ErrorInfo"]["metadata"]["quota_metric"] == SUBMISSIONS
    assert "RetryInfo" not in details(create)
    get = refused(lambda: jobs.get_custom_job(name=f"{PARENT}/customJobs/1"))
    assert details(get)["ErrorInfo"]["metadata"]["quota_metric"] == CRUD
    assert details(get)["RetryInfo"]["retryDelay"] == "2s"


def test_both_limits_are_set_by_options_and_the_config_file(emulator_factory: Any, tmp_path: Path) -> None:
    """--rate-limit-per-minute, --submission-limit-per-minute, --rate-limit-retry-info and the same config keys
    (options win over the file)."""
    config = tmp_path / "emulator.json"
    config.write_text(
        json.dumps({"rate_limit_per_minute": 600, "submission_limit_per_minute": 60, "rate_limit_retry_info": True})
    )
    from_file = emulator_factory("--config", str(config))
    runtime = from_file.control("GET", "config")
    assert (runtime["rate_limit_per_minute"], runtime["submission_limit_per_minute"]) == (600, 60)
    assert runtime["rate_limit_retry_info"] is True
    options = emulator_factory("--config", str(config), "--submission-limit-per-minute", "5")
    assert options.control("GET", "config")["submission_limit_per_minute"] == 5
    flags = emulator_factory("--rate-limit-per-minute", "7", "--rate-limit-retry-info")
    runtime = flags.control("GET", "config")
    assert (runtime["rate_limit_per_minute"], runtime["rate_limit_retry_info"]) == (7, True)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"submission_limit_per_minute": -1}, "submission_limit_per_minute must be a whole number >= 0"),
        ({"rate_limit_per_minute": "600"}, "rate_limit_per_minute must be a whole number >= 0"),
        ({"rate_limit_retry_info": "yes"}, "rate_limit_retry_info must be true or false"),
    ],
)
def test_bad_quota_settings_are_refused(emulator: Emulator, settings: dict[str, Any], problem: str) -> None:
    """The control API answers 400 naming the key and changes nothing."""
    with pytest.raises(EmulatorError, match=problem):
        emulator.configure(**settings)
    assert emulator.control("GET", "config")["submission_limit_per_minute"] == 0
