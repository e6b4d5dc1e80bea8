"""API errors of the emulator and their two wire forms (gRPC status with details, Google JSON error body).

Raised anywhere below ``service.Api.handle``; ``grpc_server`` and ``rest`` turn them into what the real
Vertex API sends, so ``google.api_core`` maps them to the same exception classes with the same details.
"""

from __future__ import annotations

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


def quota_failure(subject: str, metric: str, limit: float) -> error_details_pb2.QuotaFailure:
    """A google.rpc.QuotaFailure naming the quota metric that is exceeded."""
    violation = error_details_pb2.QuotaFailure.Violation(
        subject=subject, description=f"{metric} exceeds its limit of {limit:g}"
    )
    return error_details_pb2.QuotaFailure(violations=[violation])


def invalid(message: str) -> ApiError:
    """INVALID_ARGUMENT with a message."""
    return ApiError("INVALID_ARGUMENT", message)


def rate_limited(project: str, retry_seconds: float) -> ApiError:
    """RESOURCE_EXHAUSTED as a per-minute request rate limit answers it (RetryInfo + ErrorInfo)."""
    message = (
        "Quota exceeded for quota metric 'aiplatform.googleapis.com/resource_management_requests' and limit "
        "'Resource management (CRUD) requests per minute per region' of service 'aiplatform.googleapis.com' "
        f"for consumer 'project:{project}'."
    )
    return ApiError(
        "RESOURCE_EXHAUSTED",
        message,
        [retry_info(retry_seconds), error_info("RATE_LIMIT_EXCEEDED", consumer=f"projects/{project}")],
    )


def allocation_quota_exceeded(subject: str, metric: str, limit: float) -> ApiError:
    """RESOURCE_EXHAUSTED as an allocation quota (e.g. GPUs) answers it: the message names the metric."""
    full = metric if "/" in metric else f"aiplatform.googleapis.com/{metric}"
    message = f"The following quota metrics exceed quota limits: {full}"
    return ApiError("RESOURCE_EXHAUSTED", message, [quota_failure(subject, full, limit)])
