"""Cloud Logging's read API over the simulated job logs: ListLogEntries (gRPC and REST) and TailLogEntries (gRPC).

``google.logging.v2.LoggingServiceV2`` ListLogEntries over gRPC and as REST ``POST /v2/entries:list``, and
TailLogEntries (gRPC, a bidirectional stream).

Per request, like Cloud Logging: the bearer token (``Iam.authenticate``), the read quota (``LogSettings
.read_requests_per_minute``: 429/RESOURCE_EXHAUSTED worded like Logging's ``ReadRequestsPerMinutePerProject``, with
no RetryInfo), fault rules for the method names ``ListLogEntries``/``TailLogEntries`` (``faults``; a
RESOURCE_EXHAUSTED rule without a message answers the read-quota error), ``logging.logEntries.list`` on every
resource name (PERMISSION_DENIED worded like IAM's), then the filter (``logfilter``) over ``joblogs`` entries.
Pages hold at most ``pageSize`` entries (default 50, at most 1000); a page token resumes after the last entry of
its page (entries that became readable meanwhile with an earlier key are not returned, as on Cloud Logging). A tail
session streams entries as they become readable, from the moment it opens, at most 10 open per project.
``grpc_server`` registers ``handlers``; ``rest`` routes ``/v2/entries:list`` to ``rest_list``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
from google.cloud.logging_v2.types import (
    ListLogEntriesRequest,
    ListLogEntriesResponse,
    TailLogEntriesRequest,
    TailLogEntriesResponse,
)
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vertex_launcher.emulator import logfilter
from vertex_launcher.emulator.errors import CRUD, ApiError, invalid
from vertex_launcher.emulator.store import now_rfc3339

if TYPE_CHECKING:
    from vertex_launcher.emulator.joblogs import SimEntry
    from vertex_launcher.emulator.service import Api

SERVICE = "google.logging.v2.LoggingServiceV2"  # == service.LOGGING_SERVICE
READ_PERMISSION = "logging.logEntries.list"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
REST_PATH = "/v2/entries:list"
#: How often an open tail session looks for newly readable entries (real seconds).
TAIL_POLL_SECONDS = 0.2


def read_quota_exceeded(project: str, limit: int) -> ApiError:
    """RESOURCE_EXHAUSTED as Cloud Logging answers a read over ``ReadRequestsPerMinutePerProject``."""
    message = (
        "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service "
        f"'logging.googleapis.com' for consumer 'project_number:{project}'."
    )
    info = error_details_pb2.ErrorInfo(
        reason="RATE_LIMIT_EXCEEDED",
        domain="googleapis.com",
        metadata={
            "consumer": f"projects/{project}",
            "quota_limit": "ReadRequestsPerMinutePerProject",
            "quota_limit_value": str(limit),
            "quota_metric": "logging.googleapis.com/read_requests",
            "service": "logging.googleapis.com",
        },
    )
    return ApiError("RESOURCE_EXHAUSTED", message, [info])


def permission_denied(permission: str) -> ApiError:
    """PERMISSION_DENIED as IAM words it for Cloud Logging."""
    info = error_details_pb2.ErrorInfo(
        reason="IAM_PERMISSION_DENIED", domain="iam.googleapis.com", metadata={"permission": permission}
    )
    return ApiError("PERMISSION_DENIED", f"Permission '{permission}' denied on resource (or it may not exist).", [info])


def _projects(resource_names: list[str]) -> list[str]:
    if not resource_names:
        raise invalid("resourceNames: at least one resource name is required, e.g. projects/PROJECT_ID.")
    projects = []
    for name in resource_names:
        parts = name.split("/")
        if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
            msg = f"Invalid resource name {name!r}: only projects/PROJECT_ID is supported by the emulator."
            raise invalid(msg)
        projects.append(parts[1])
    return projects


def _admit(api: Api, method: str, request: Any, *, transport: str, token: str | None) -> list[str]:
    """Authentication, quota, faults and IAM for one read; the projects it reads. Raises ApiError."""
    projects = _projects(list(request.resource_names))
    with api.lock:
        principal = api.iam.authenticate(token)
        settings = api.logs.settings
        limit = settings.read_requests_per_minute
        if limit > 0:
            now = time.monotonic()
            window = api.logs.window
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= limit:
                raise read_quota_exceeded(projects[0], limit)
            window.append(now)
        rule = api.faults.fire(method, transport)
        if rule is not None:
            api.save()
    if rule is not None:
        if rule.delay_seconds:
            time.sleep(rule.delay_seconds)
        if rule.code == "RESOURCE_EXHAUSTED" and not rule.message and not rule.quota_metric:
            raise read_quota_exceeded(projects[0], limit or 60)
        # A rate limit was answered above (the Logging read quota's own shape); this is any other injected error.
        error = rule.error(quota=CRUD, consumer=projects[0], region="global")
        if error is not None:
            raise error
    if api.iam.enabled and principal is not None and not principal.holds(READ_PERMISSION):
        raise permission_denied(READ_PERMISSION)
    return projects


def _logged(api: Api, method: str, resource: str, transport: str, call: Callable[[dict[str, Any]], Any]) -> Any:
    started = time.time()
    entry: dict[str, Any] = {
        "time": now_rfc3339(started),
        "transport": transport,
        "method": method,
        "resource": resource,
        "principal": None,
        "code": "OK",
        "fault": False,
    }
    try:
        return call(entry)
    except ApiError as exc:
        entry["code"] = exc.code
        if transport == "rest":
            entry["http_status"] = exc.http_status
        raise
    finally:
        entry["duration_ms"] = round((time.time() - started) * 1000, 1)
        if transport == "rest":
            entry.setdefault("http_status", 200)
        api._log(entry)


def _matching(api: Api, projects: list[str], node: logfilter.Node) -> list[SimEntry]:
    with api.lock:
        records = api.store.records()
        found = [entry for project in projects for entry in api.logs.entries(records, api.clock, node, project)]
    found.sort(key=lambda entry: entry.key)
    return found


def _token(key: tuple[int, str], digest: str) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}:{digest}".encode()).decode()


def _untoken(token: str, digest: str) -> tuple[int, str]:
    try:
        timestamp, insert_id, seen_digest = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        key = int(timestamp), insert_id
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"Invalid page token {token!r}."
        raise invalid(msg) from exc
    if seen_digest != digest:
        raise invalid("The page token does not belong to this request (resource names, filter or order changed).")
    return key


def list_entries(api: Api, request: Any, *, transport: str, token: str | None) -> Any:
    """ListLogEntries: one page, as ``google.logging.v2.ListLogEntriesResponse``."""
    resource = ",".join(request.resource_names)

    def call(entry: dict[str, Any]) -> Any:
        projects = _admit(api, "ListLogEntries", request, transport=transport, token=token)
        order = request.order_by.strip().lower() or "timestamp asc"
        if order not in ("timestamp asc", "timestamp desc"):
            msg = f"Invalid orderBy {request.order_by!r}: use 'timestamp asc' or 'timestamp desc'."
            raise invalid(msg)
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            msg = f"pageSize must be between 0 and {MAX_PAGE_SIZE}, got {request.page_size}."
            raise invalid(msg)
        size = request.page_size or DEFAULT_PAGE_SIZE
        node = logfilter.parse(request.filter)
        digest = hashlib.sha256(f"{resource}|{request.filter}|{order}".encode()).hexdigest()[:16]
        found = _matching(api, projects, node)
        if order == "timestamp desc":
            found.reverse()
        if request.page_token:
            after = _untoken(request.page_token, digest)
            descending = order == "timestamp desc"
            found = [e for e in found if (e.key < after if descending else e.key > after)]
        page, more = found[:size], len(found) > size
        response: Any = ListLogEntriesResponse.pb()()
        response.entries.extend(item.to_pb() for item in page)
        if more:
            response.next_page_token = _token(page[-1].key, digest)
        entry["entries"] = len(page)
        return response

    return _logged(api, "ListLogEntries", resource, transport, call)


def tail_entries(api: Api, requests: Iterator[Any], *, token: str | None, active: Callable[[], bool]) -> Iterator[Any]:
    """TailLogEntries: entries that become readable after the session opened, until the client goes away."""
    request = next(requests, None)
    if request is None:
        return
    resource = ",".join(request.resource_names)
    projects: list[str] = _logged(
        api,
        "TailLogEntries",
        resource,
        "grpc",
        lambda _: _admit(api, "TailLogEntries", request, transport="grpc", token=token),
    )
    with api.lock:
        limit = api.logs.settings.tail_sessions_per_project
        if api.logs.tails[projects[0]] >= limit:
            msg = f"Quota exceeded: project {projects[0]} already has {limit} open live-tailing sessions."
            raise ApiError("RESOURCE_EXHAUSTED", msg)
        api.logs.tails[projects[0]] += 1
    try:
        node = logfilter.parse(request.filter)
        sent = {entry.key for entry in _matching(api, projects, node)}
        while active():
            fresh = [entry for entry in _matching(api, projects, node) if entry.key not in sent]
            if fresh:
                sent.update(entry.key for entry in fresh)
                response: Any = TailLogEntriesResponse.pb()()
                response.entries.extend(entry.to_pb() for entry in fresh)
                yield response
            time.sleep(TAIL_POLL_SECONDS)
    finally:
        with api.lock:
            api.logs.tails[projects[0]] -= 1


def rest_list(api: Api, body: str, token: str | None) -> dict[str, Any]:
    """``POST /v2/entries:list``: the JSON body of a ListLogEntriesRequest → the JSON response."""
    request: Any = ListLogEntriesRequest.pb()()
    try:
        json_format.Parse(body or "{}", request)
    except json_format.ParseError as exc:
        msg = f"Invalid JSON payload received. {exc}"
        raise invalid(msg) from exc
    response = list_entries(api, request, transport="rest", token=token)
    return dict(json_format.MessageToDict(response))


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key.lower() == "authorization" and isinstance(value, str) and value.lower().startswith("bearer "):
            return value[len("bearer ") :].strip() or None
    return None


def handlers(api: Api) -> grpc.GenericRpcHandler[Any, Any]:
    """The gRPC service ``google.logging.v2.LoggingServiceV2`` (read methods only)."""

    def list_call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return list_entries(api, type(request).pb(request), transport="grpc", token=_bearer(context))
        except ApiError as exc:
            context.abort_with_status(rpc_status.to_status(exc.status_pb()))
            raise  # not reached

    def tail_call(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        raw = (type(request).pb(request) for request in requests)
        try:
            yield from tail_entries(api, raw, token=_bearer(context), active=context.is_active)
        except ApiError as exc:
            context.abort_with_status(rpc_status.to_status(exc.status_pb()))

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "ListLogEntries": grpc.unary_unary_rpc_method_handler(
                list_call,
                request_deserializer=ListLogEntriesRequest.deserialize,
                response_serializer=lambda message: message.SerializeToString(),
            ),
            "TailLogEntries": grpc.stream_stream_rpc_method_handler(
                tail_call,
                request_deserializer=TailLogEntriesRequest.deserialize,
                response_serializer=lambda message: message.SerializeToString(),
            ),
        },
    )
