"""``logstream.LogSource`` over google-cloud-logging's GAPIC ``LoggingServiceV2Client.list_log_entries`` (gRPC).

Built by the composition root on the streamer's own thread (``STREAM_LOGS=true`` only: ``google.cloud.logging_v2``
costs ~0.35 s to import, and a run without streaming never imports it). Talks to ``LOGGING_API_ENDPOINT``
(default ``logging.googleapis.com``, TLS) or, with ``API_INSECURE``, plaintext gRPC that still carries the bearer
token (``channels``). Each call is one request (one page); nothing is retried here — the streamer paces itself.
``google.api_core`` errors become ``vertex_launcher.errors``: RESOURCE_EXHAUSTED and outages are transient,
PERMISSION_DENIED/UNAUTHENTICATED are ``AuthError``, anything else ``ApiError``.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from vertex_launcher.channels import plaintext_channel
from vertex_launcher.errors import ApiError, AuthError, LauncherError, TransientApiError
from vertex_launcher.logstream import LogEntryView, Page
from vertex_launcher.redaction import redact_text

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

#: Deadline of one entries.list call.
CALL_TIMEOUT_SECONDS = 20.0
_TRANSIENT = (
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.GatewayTimeout,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.Aborted,
    gexc.Unknown,
)
_SEVERITIES = {0: "DEFAULT", 100: "DEBUG", 200: "INFO", 300: "NOTICE", 400: "WARNING", 500: "ERROR"}
_SEVERITIES |= {600: "CRITICAL", 700: "ALERT", 800: "EMERGENCY"}


class GapicLogSource:
    """``entries.list`` of one project through the Logging GAPIC client."""

    def __init__(self, *, credentials: Credentials, project: str, endpoint: str | None, insecure: bool) -> None:
        from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
        from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
        from google.cloud.logging_v2.types import ListLogEntriesRequest

        host = endpoint or "logging.googleapis.com"
        if insecure:
            transport = LoggingServiceV2GrpcTransport(channel=plaintext_channel(host, credentials))
            self._client: Any = LoggingServiceV2Client(transport=transport)
        else:
            self._client = LoggingServiceV2Client(credentials=credentials, client_options={"api_endpoint": host})
        self._request = ListLogEntriesRequest
        self._resource = f"projects/{project}"

    def list_entries(self, *, filter_: str, page_token: str, page_size: int) -> Page:
        """See ``logstream.LogSource``."""
        request = self._request(
            resource_names=[self._resource],
            filter=filter_,
            order_by="timestamp asc",
            page_size=page_size,
            page_token=page_token,
        )
        try:
            pager = self._client.list_log_entries(request=request, retry=None, timeout=CALL_TIMEOUT_SECONDS)
            entries = [_view(type(entry).pb(entry)) for entry in pager.entries]
        except gexc.GoogleAPICallError as exc:
            raise translate(exc) from None
        except Exception as exc:
            raise _auth_or_transport(exc) from None
        return Page(entries, pager.next_page_token)

    def close(self) -> None:
        """See ``logstream.LogSource``."""
        self._client.transport.close()


def _view(entry: Any) -> LogEntryView:
    payload = entry.WhichOneof("payload")
    if payload == "text_payload":
        message = entry.text_payload
    elif payload == "json_payload":
        fields = entry.json_payload.fields
        if "message" in fields and fields["message"].HasField("string_value"):
            message = fields["message"].string_value
        else:
            from google.protobuf import json_format

            message = json.dumps(json_format.MessageToDict(entry.json_payload), separators=(",", ":"))
    elif payload == "proto_payload":
        message = entry.proto_payload.type_url
    else:
        message = ""
    return LogEntryView(
        timestamp=entry.timestamp.ToDatetime(tzinfo=UTC),
        insert_id=entry.insert_id,
        log_name=entry.log_name,
        severity=_SEVERITIES.get(entry.severity, str(entry.severity)),
        message=message,
        resource_type=entry.resource.type,
        resource_labels=dict(entry.resource.labels),
    )


def translate(exc: gexc.GoogleAPICallError) -> LauncherError:
    """A Logging API error → the launcher error saying whether trying again later can help."""
    code = getattr(exc.grpc_status_code, "name", None) or type(exc).__name__
    text = f"{code}: {redact_text(exc.message or '')}"
    if isinstance(exc, gexc.Unauthenticated | gexc.PermissionDenied | gexc.Forbidden):
        return AuthError(f"Cloud Logging refused the read ({text})", code=code)
    if isinstance(exc, _TRANSIENT):
        return TransientApiError(f"Cloud Logging refused the read ({text})", code=code, retry_after=_retry_after(exc))
    return ApiError(f"Cloud Logging rejected the read ({text})", code=code)


def _retry_after(exc: gexc.GoogleAPICallError) -> float | None:
    from google.rpc import error_details_pb2

    for detail in exc.details or ():
        if isinstance(detail, error_details_pb2.RetryInfo):
            return float(detail.retry_delay.ToTimedelta().total_seconds())
    return None


def _auth_or_transport(exc: Exception) -> LauncherError:
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, auth_exceptions.RefreshError):
        return AuthError(f"could not refresh the access token: {redact_text(str(exc))}", code="UNAUTHENTICATED")
    if isinstance(exc, auth_exceptions.TransportError):
        return TransientApiError(f"could not reach the token endpoint: {redact_text(str(exc))}", code="UNAVAILABLE")
    raise exc
