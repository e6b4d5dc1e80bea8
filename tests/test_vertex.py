"""The Vertex adapter's error translation: one api_core exception → the launcher error that says what to do.

RESOURCE_EXHAUSTED is classified by the quota it names, not by which detail types it carries. Each case is built
as api_core builds it from the wire, for both transports: gRPC (``ResourceExhausted``, details as google.rpc
messages) and REST (``TooManyRequests`` parsed from Google's JSON error body, details as dicts with ``@type``).
Shapes marked *public* were seen in public reports of the real API; the others follow Google's documented
google.rpc conventions (ErrorInfo reasons, QuotaFailure fields) and are assumptions for Vertex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions as gexc
from google.protobuf import any_pb2, duration_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from vertex_launcher.errors import AuthError, QuotaExceededError, TransientApiError
from vertex_launcher.result import ExitCode
from vertex_launcher.vertex import translate

L4 = "aiplatform.googleapis.com/custom_model_training_nvidia_l4_gpus"
CPUS = "aiplatform.googleapis.com/custom_model_training_cpus"
CRUD_MESSAGE = (  # public: a Vertex AI notebook test run, 2022
    "Quota exceeded for quota metric 'Resource management (CRUD) requests' and limit 'Resource management (CRUD) "
    "requests per minute per region' of service 'aiplatform.googleapis.com' for consumer 'project_number:123'."
)
SUBMISSION_MESSAGE = (
    "Quota exceeded for quota metric 'Job or long-running operation (LRO) submission requests' and limit 'Job or "
    "long-running operation (LRO) submission requests per minute per region' of service 'aiplatform.googleapis.com' "
    "for consumer 'project_number:123'."
)


@dataclass(frozen=True)
class Shape:
    """A RESOURCE_EXHAUSTED answer: its message and google.rpc details."""

    message: str
    details: list[Message] = field(default_factory=list)


def rate_info(metric: str, limit: str, value: str) -> error_details_pb2.ErrorInfo:
    """Google's standard ErrorInfo of a rate limit (reason RATE_LIMIT_EXCEEDED, quota metadata)."""
    metadata = {
        "quota_metric": metric,
        "quota_limit": limit,
        "quota_limit_value": value,
        "consumer": "projects/123",
        "service": "aiplatform.googleapis.com",
    }
    return error_details_pb2.ErrorInfo(reason="RATE_LIMIT_EXCEEDED", domain="googleapis.com", metadata=metadata)


def violation(**fields: Any) -> error_details_pb2.QuotaFailure:
    """A QuotaFailure with one violation."""
    return error_details_pb2.QuotaFailure(violations=[error_details_pb2.QuotaFailure.Violation(**fields)])


def retry(seconds: int) -> error_details_pb2.RetryInfo:
    """A RetryInfo asking for ``seconds``."""
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))


ALLOCATION: dict[str, tuple[Shape, str]] = {
    "Vertex's message, no details (public)": (
        Shape(f"The following quota metrics exceed quota limits: {L4}"),
        L4,
    ),
    "Vertex's message listing a metric with a trailing comma (public)": (
        Shape(f"The following quota metrics exceed quota limits: {CPUS}, "),
        CPUS,
    ),
    "a QuotaFailure naming the GPU metric": (
        Shape(
            "Quota exceeded.",
            [violation(subject="projects/123", quota_metric=L4, quota_id="CustomModelTrainingNvidiaL4GpusPerRegion")],
        ),
        L4,
    ),
    "ErrorInfo RESOURCE_QUOTA_EXCEEDED": (
        Shape(
            "Quota exceeded.",
            [
                error_details_pb2.ErrorInfo(
                    reason="RESOURCE_QUOTA_EXCEEDED", domain="googleapis.com", metadata={"quota_metric": L4}
                )
            ],
        ),
        L4,
    ),
    "an unknown metric with no rate hint": (
        Shape("The following quota metrics exceed quota limits: aiplatform.googleapis.com/brand_new_accelerators"),
        "aiplatform.googleapis.com/brand_new_accelerators",
    ),
}

RATE: dict[str, tuple[Shape, float | None]] = {
    "the CRUD limit: Vertex's message and ErrorInfo RATE_LIMIT_EXCEEDED (public message and reason)": (
        Shape(
            CRUD_MESSAGE,
            [
                rate_info(
                    "aiplatform.googleapis.com/resource_management_requests",
                    "ResourceManagementRequestsPerMinutePerProjectPerRegion",
                    "600",
                )
            ],
        ),
        None,
    ),
    "the submission limit: Google's standard message only": (Shape(SUBMISSION_MESSAGE), None),
    "a rate QuotaFailure (a per-minute quota_id), no ErrorInfo": (
        Shape(
            "Resource has been exhausted (e.g. check quota).",
            [
                violation(
                    quota_metric="aiplatform.googleapis.com/job_submission_requests",
                    quota_id="JobSubmissionRequestsPerMinutePerProjectPerRegion",
                    quota_value=60,
                )
            ],
        ),
        None,
    ),
    "a rate QuotaFailure beside ErrorInfo RATE_LIMIT_EXCEEDED and a GPU-sounding description": (
        Shape(
            SUBMISSION_MESSAGE,
            [
                rate_info("aiplatform.googleapis.com/job_submission_requests", "JobSubmissionsPerMinute", "60"),
                violation(description="gpus"),
            ],
        ),
        None,
    ),
    "a RetryInfo with a metric that says nothing about time": (
        Shape("Quota exceeded for aiplatform.googleapis.com/some_metric.", [retry(26)]),
        26.0,
    ),
    "nothing named at all": (Shape("Resource has been exhausted (e.g. check quota)."), None),
}


def grpc_error(code: grpc.StatusCode, message: str, **parsed: Any) -> gexc.GoogleAPICallError:
    """``api_core.exceptions.from_grpc_status``, typed."""
    error: gexc.GoogleAPICallError = gexc.from_grpc_status(code, message, **parsed)  # type: ignore[no-untyped-call]
    return error


def as_grpc(shape: Shape) -> gexc.GoogleAPICallError:
    """What ``api_core.exceptions.from_grpc_error`` makes of the status: parsed messages, the first ErrorInfo."""
    info = next((d for d in shape.details if isinstance(d, error_details_pb2.ErrorInfo)), None)
    return grpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, shape.message, details=shape.details, error_info=info)


def as_rest(shape: Shape) -> gexc.GoogleAPICallError:
    """api_core's own parsing of Google's JSON error body (HTTP 429, details with ``@type``)."""
    details = []
    for detail in shape.details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        details.append(json_format.MessageToDict(packed))
    body = {"error": {"code": 429, "message": shape.message, "status": "RESOURCE_EXHAUSTED", "details": details}}
    return rest_error(429, body)


def rest_error(status: int, body: dict[str, Any]) -> gexc.GoogleAPICallError:
    """``api_core.exceptions.format_http_response_error`` on a response with this status and JSON body, typed."""
    response = requests.Response()
    response.status_code = status
    url = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/customJobs"
    error: gexc.GoogleAPICallError = gexc.format_http_response_error(response, "POST", url, body)
    return error


Wire = Callable[[Shape], gexc.GoogleAPICallError]


@pytest.fixture(name="wire", params=["grpc", "rest"])
def _wire(request: pytest.FixtureRequest) -> Wire:
    return as_grpc if request.param == "grpc" else as_rest


def test_the_two_transports_raise_the_classes_the_launcher_expects() -> None:
    """gRPC raises ResourceExhausted; REST its parent TooManyRequests, with dict details: both are handled."""
    shape = RATE["the CRUD limit: Vertex's message and ErrorInfo RATE_LIMIT_EXCEEDED (public message and reason)"][0]
    grpc_error, rest_error = as_grpc(shape), as_rest(shape)
    assert type(grpc_error) is gexc.ResourceExhausted
    assert type(rest_error) is gexc.TooManyRequests
    assert isinstance(rest_error.details[0], dict)
    assert grpc_error.reason == rest_error.reason == "RATE_LIMIT_EXCEEDED"


@pytest.mark.parametrize("case", sorted(ALLOCATION))
def test_an_allocation_quota_on_create_fails_fast_naming_the_quota(wire: Wire, case: str) -> None:
    """A resource quota (GPUs, CPUs) refused the create: QuotaExceededError, exit 1, the metric in the message."""
    shape, metric = ALLOCATION[case]
    error = translate(wire(shape), create=True)
    assert isinstance(error, QuotaExceededError), error.message
    assert error.exit_code == ExitCode.JOB_FAILED
    assert error.message.startswith(f"Vertex AI quota exceeded: {metric} (")
    assert error.code in ("RESOURCE_EXHAUSTED", "TooManyRequests")


@pytest.mark.parametrize("case", sorted(RATE))
def test_a_rate_limit_on_create_is_retried(wire: Wire, case: str) -> None:
    """A per-minute limit (or an exhaustion naming no quota) is transient: retry, honouring RetryInfo if sent."""
    shape, retry_after = RATE[case]
    error = translate(wire(shape), create=True)
    assert isinstance(error, TransientApiError), error.message
    assert error.exit_code == ExitCode.TRANSIENT
    assert error.retry_after == retry_after
    assert not error.ambiguous  # a rate-limited create was refused before anything was made


def test_the_rate_limit_message_names_the_quota(wire: Wire) -> None:
    """The retry log line says which limit it hit."""
    shape = RATE["the submission limit: Google's standard message only"][0]
    error = translate(wire(shape), create=True)
    assert error.message.startswith("rate limited by Job or long-running operation (LRO) submission requests (")


@pytest.mark.parametrize("case", sorted(ALLOCATION))
def test_resource_exhausted_on_a_read_is_always_a_rate_limit(wire: Wire, case: str) -> None:
    """Only a create takes resources: on get/list/cancel even an allocation-looking answer is retried."""
    error = translate(wire(ALLOCATION[case][0]), create=False)
    assert isinstance(error, TransientApiError)


def test_permission_denied_on_either_transport_is_an_auth_error() -> None:
    """PERMISSION_DENIED (gRPC) and 403 Forbidden (REST): exit 3."""
    denied = grpc_error(grpc.StatusCode.PERMISSION_DENIED, "Permission denied")
    forbidden = rest_error(403, {"error": {"message": "denied"}})
    for exc in (denied, forbidden):
        assert isinstance(translate(exc, create=True), AuthError)
