"""API errors of the emulator and their two wire forms (gRPC status with details, Google JSON error body).

Raised anywhere below ``service.Api.handle``; ``grpc_server`` and ``rest`` turn them into what the real
Vertex API sends, so ``google.api_core`` maps them to the same exception classes with the same details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2, duration_pb2, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

#: gRPC status name → HTTP status, as Google's HTTP/JSON transcoding maps them.
HTTP_STATUS: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ApiError(Exception):
    """An error answer: a status name (``NOT_FOUND``), a message, and google.rpc detail messages."""

    def __init__(self, code: str, message: str, details: list[Message] | None = None) -> None:
        if code not in HTTP_STATUS or code == "OK":
            msg = f"unknown error status code {code!r}"
            raise ValueError(msg)
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details or [])

    @property
    def http_status(self) -> int:
        """The HTTP status of this error on the REST transport."""
        return HTTP_STATUS[self.code]

    def status_pb(self) -> status_pb2.Status:
        """The google.rpc.Status (gRPC ``grpc-status-details-bin``)."""
        packed = []
        for detail in self.details:
            item = any_pb2.Any()
            item.Pack(detail)
            packed.append(item)
        return status_pb2.Status(code=code_pb2.Code.Value(self.code), message=self.message, details=packed)

    def json_body(self) -> dict[str, Any]:
        """The Google JSON error body of the REST transport."""
        details = [json_format.MessageToDict(item) for item in self.status_pb().details]
        error: dict[str, Any] = {"code": self.http_status, "message": self.message, "status": self.code}
        if details:
            error["details"] = details
        return {"error": error}


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    """A google.rpc.RetryInfo asking the client to wait ``seconds``."""
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(seconds * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=delay)


def error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    """A google.rpc.ErrorInfo from the aiplatform domain."""
    return error_details_pb2.ErrorInfo(reason=reason, domain="aiplatform.googleapis.com", metadata=metadata)


@dataclass(frozen=True)
class RateQuota:
    """One of Vertex's per-minute request quotas (per project and region): its metric, names and default limit.

    The display names and default limits are Vertex's documented ones; the metric and limit ids follow Google's
    naming and are assumptions (Vertex does not publish them).
    """

    metric: str
    display: str
    limit_id: str
    default_limit: int


CRUD = RateQuota(
    metric="aiplatform.googleapis.com/resource_management_requests",
    display="Resource management (CRUD) requests",
    limit_id="ResourceManagementRequestsPerMinutePerProjectPerRegion",
    default_limit=600,
)
SUBMISSION = RateQuota(
    metric="aiplatform.googleapis.com/job_submission_requests",
    display="Job or long-running operation (LRO) submission requests",
    limit_id="JobSubmissionRequestsPerMinutePerProjectPerRegion",
    default_limit=60,
)


def invalid(message: str) -> ApiError:
    """INVALID_ARGUMENT with a message."""
    return ApiError("INVALID_ARGUMENT", message)


def rate_limited(quota: RateQuota, *, consumer: str, region: str, limit: int, retry_seconds: float | None) -> ApiError:
    """RESOURCE_EXHAUSTED as Google's quota system answers a per-minute rate limit.

    The message is Google's standard one (seen from Vertex for the CRUD quota); the details are an ErrorInfo
    ``RATE_LIMIT_EXCEEDED`` with the quota metadata and a QuotaFailure naming the quota; a RetryInfo only when
    ``retry_seconds`` is given, since Vertex documents none on these errors.
    """
    message = (
        f"Quota exceeded for quota metric '{quota.display}' and limit '{quota.display} per minute per region' "
        f"of service 'aiplatform.googleapis.com' for consumer 'project_number:{consumer}'."
    )
    metadata = {
        "quota_metric": quota.metric,
        "quota_limit": quota.limit_id,
        "quota_limit_value": str(limit),
        "quota_location": region,
        "quota_unit": "1/min/{project}/{region}",
        "consumer": f"projects/{consumer}",
        "service": "aiplatform.googleapis.com",
    }
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=f"projects/{consumer}",
        description=message,
        api_service="aiplatform.googleapis.com",
        quota_metric=quota.metric,
        quota_id=quota.limit_id,
        quota_dimensions={"region": region},
        quota_value=limit,
    )
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason="RATE_LIMIT_EXCEEDED", domain="googleapis.com", metadata=metadata),
        error_details_pb2.QuotaFailure(violations=[violation]),
    ]
    if retry_seconds is not None:
        details.append(retry_info(retry_seconds))
    return ApiError("RESOURCE_EXHAUSTED", message, details)


def allocation_quota_exceeded(metric: str) -> ApiError:
    """RESOURCE_EXHAUSTED as Vertex answers an allocation quota (e.g. GPUs): the message names the metric.

    Exactly the public shape (HTTP 429, this message, no details): only the metric tells it from a rate limit.
    """
    full = metric if "/" in metric else f"aiplatform.googleapis.com/{metric}"
    return ApiError("RESOURCE_EXHAUSTED", f"The following quota metrics exceed quota limits: {full}")
