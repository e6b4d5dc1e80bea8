"""Fault injection: scripted errors, delays and ambiguous creates, seen by the real clients on both transports."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.rpc import error_details_pb2

from tests.emulator.jobs import PARENT, custom_job
from tests.fixtures.emulator import Emulator


def retry_delays(error: exceptions.GoogleAPICallError) -> list[float]:
    """The RetryInfo delays (seconds) in an api_core exception from either transport."""
    delays = []
    for detail in error.details:
        if isinstance(detail, error_details_pb2.RetryInfo):
            delays.append(detail.retry_delay.ToNanoseconds() / 1e9)
        elif isinstance(detail, dict) and detail.get("@type") == "type.googleapis.com/google.rpc.RetryInfo":
            delays.append(float(str(detail["retryDelay"]).rstrip("s")))
    return delays


def outcomes(call: Any, times: int) -> list[str]:
    """Call ``times`` times; "ok" or the exception class name for each call."""
    results = []
    for _ in range(times):
        try:
            call()
            results.append("ok")
        except exceptions.GoogleAPICallError as exc:
            results.append(type(exc).__name__)
    return results


def test_a_rule_fails_the_nth_call_of_a_method_count_times(jobs: Any, emulator: Emulator) -> None:
    """nth=2, count=2: calls 2 and 3 fail with the code, calls 1 and 4 succeed."""
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    emulator.add_fault(method="GetCustomJob", nth=2, count=2, code="UNAVAILABLE")
    results = outcomes(lambda: jobs.get_custom_job(name=job.name), 4)
    assert results == ["ok", "ServiceUnavailable", "ServiceUnavailable", "ok"]


def test_retry_info_reaches_the_clients_exception(jobs: Any, emulator: Emulator) -> None:
    """retry_delay_seconds travels as google.rpc.RetryInfo: status details (gRPC) or error details (REST)."""
    emulator.add_fault(method="ListCustomJobs", code="UNAVAILABLE", retry_delay_seconds=7.5)
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        list(jobs.list_custom_jobs(request={"parent": PARENT}))
    assert retry_delays(caught.value) == [7.5]


def test_an_injected_resource_exhausted_looks_like_a_rate_limit(jobs: Any, emulator: Emulator) -> None:
    """Without a quota_metric: 429/RESOURCE_EXHAUSTED with RetryInfo and a per-minute quota message."""
    emulator.add_fault(method="GetCustomJob", code="RESOURCE_EXHAUSTED", retry_delay_seconds=3)
    with pytest.raises(exceptions.TooManyRequests, match="per minute") as caught:
        jobs.get_custom_job(name=f"{PARENT}/customJobs/1")
    assert retry_delays(caught.value) == [3.0]


def test_a_quota_metric_fault_names_the_allocation_quota(jobs: Any, emulator: Emulator) -> None:
    """With quota_metric: Vertex's "The following quota metrics exceed quota limits" message, no RetryInfo."""
    emulator.add_fault(
        method="CreateCustomJob", code="RESOURCE_EXHAUSTED", quota_metric="custom_model_training_nvidia_t4_gpus"
    )
    with pytest.raises(exceptions.TooManyRequests) as caught:
        jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    message = caught.value.message
    assert "The following quota metrics exceed quota limits" in message
    assert "aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus" in message
    assert retry_delays(caught.value) == []
    assert emulator.jobs() == []


def test_apply_first_makes_the_job_and_then_answers_the_error(jobs: Any, emulator: Emulator) -> None:
    """An ambiguous create: the client sees DEADLINE_EXCEEDED (504 over REST) but the job exists."""
    emulator.add_fault(method="CreateCustomJob", code="DEADLINE_EXCEEDED", apply_first=True)
    with pytest.raises(exceptions.GatewayTimeout):
        jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"vertex-launcher-run": "k"}))
    made = emulator.jobs()
    assert [job["labels"]["vertex-launcher-run"] for job in made] == ["k"]
    found = jobs.list_custom_jobs(request={"parent": PARENT, "filter": 'labels.vertex-launcher-run="k"'})
    assert [job.name for job in found] == [made[0]["name"]]


def test_a_rule_can_be_limited_to_one_transport(emulator: Emulator) -> None:
    """transport="rest" leaves gRPC calls alone."""
    emulator.add_fault(method="*", code="INTERNAL", count=0, transport="rest")
    grpc_jobs, rest_jobs = emulator.job_client("grpc"), emulator.job_client("rest")
    assert list(grpc_jobs.list_custom_jobs(request={"parent": PARENT})) == []
    with pytest.raises(exceptions.InternalServerError):
        list(rest_jobs.list_custom_jobs(request={"parent": PARENT}))


def test_a_wildcard_rule_with_count_zero_fails_every_call_from_the_nth(jobs: Any, emulator: Emulator) -> None:
    """method "*" counts calls of every method; count 0 means from the Nth call on, for ever."""
    emulator.add_fault(method="*", nth=3, count=0, code="UNAVAILABLE")
    results = outcomes(lambda: list(jobs.list_custom_jobs(request={"parent": PARENT})), 5)
    assert results == ["ok", "ok", "ServiceUnavailable", "ServiceUnavailable", "ServiceUnavailable"]


def test_a_delay_longer_than_the_client_deadline_expires_the_call(emulator: Emulator) -> None:
    """delay_seconds stalls the answer; a client timeout shorter than that sees DEADLINE_EXCEEDED."""
    jobs = emulator.job_client("grpc")
    emulator.add_fault(method="ListCustomJobs", code=None, delay_seconds=2.0)
    with pytest.raises(exceptions.DeadlineExceeded):
        list(jobs.list_custom_jobs(request={"parent": PARENT}, timeout=0.3))


def test_every_fault_is_in_the_request_log(jobs: Any, emulator: Emulator, transport: str) -> None:
    """The log marks injected answers (fault: true) with their status code."""
    emulator.add_fault(method="GetCustomJob", code="UNAVAILABLE")
    outcomes(lambda: jobs.get_custom_job(name=f"{PARENT}/customJobs/1"), 2)
    log = emulator.requests("GetCustomJob")
    assert [(entry["code"], entry["fault"], entry["transport"]) for entry in log] == [
        ("UNAVAILABLE", True, transport),
        ("NOT_FOUND", False, transport),
    ]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"method": "GetCustomJob", "code": "NOPE"}, "not a gRPC status name"),
        ({"method": "GetCustomJob", "nth": 0}, "nth >= 1"),
        ({"method": "GetCustomJob", "colour": "red"}, "unknown fault rule key"),
        ({"method": "CreateCustomjob", "code": "PERMISSION_DENIED"}, "not a method the emulator serves"),
        ({"method": "PipelineService.CreateCustomJob"}, "not a method the emulator serves"),
        ({"method": "google.cloud.aiplatform.v1.JobService/DeleteCustomJob"}, "not a method the emulator serves"),
        ({"method": "GetCustomJob", "nth": "3"}, "nth must be int"),
        ({"method": "GetCustomJob", "count": True}, "count must be int"),
        ({"method": "GetCustomJob", "apply_first": "yes"}, "apply_first must be bool"),
        ({"method": "GetCustomJob", "retry_delay_seconds": -1}, "retry_delay_seconds >= 0"),
        ({"method": "GetCustomJob", "transport": "http"}, "transport must be grpc, rest or null"),
        ({"method": "GetCustomJob", "code": "UNAVAILABLE", "quota_metric": "gpus"}, "needs code RESOURCE_EXHAUSTED"),
    ],
)
def test_a_malformed_fault_rule_is_refused_and_adds_nothing(
    emulator: Emulator, rule: dict[str, Any], problem: str
) -> None:
    """The control API answers 400 naming the problem; the active rules are unchanged."""
    with pytest.raises(RuntimeError, match=problem):
        emulator.add_faults([{"method": "ListCustomJobs"}, rule])
    assert emulator.control("GET", "config")["faults"] == []


@pytest.mark.parametrize(
    "spelling",
    [
        "JobService.CreateCustomJob",
        "google.cloud.aiplatform.v1.JobService.CreateCustomJob",
        "google.cloud.aiplatform.v1.JobService/CreateCustomJob",
        "/google.cloud.aiplatform.v1.JobService/CreateCustomJob",
    ],
)
def test_a_qualified_method_name_is_stored_short_and_fires(jobs: Any, emulator: Emulator, spelling: str) -> None:
    """A rule naming the method as gRPC does (service-qualified, or the full path) fires like the short name."""
    [rule] = emulator.add_fault(method=spelling, code="PERMISSION_DENIED")
    assert rule["method"] == "CreateCustomJob"
    with pytest.raises(exceptions.Forbidden):
        jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    assert emulator.jobs() == []
