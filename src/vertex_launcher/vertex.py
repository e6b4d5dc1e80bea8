"""The Vertex AI adapter: the launcher's only import of ``google.cloud.aiplatform*``.

``canonical`` checks a ``JobRequest`` body against the real protobuf types (and is all ``render`` needs);
``GapicBackend`` implements ``jobs.JobBackend`` with the ``aiplatform_v1`` GAPIC clients over gRPC and translates
``google.api_core`` exceptions into ``vertex_launcher.errors``. Built by the composition root; used by ``watch``.
The GAPIC package is imported lazily, so ``--help`` and configuration errors never pay for it (~1 s, ~100 MB).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.protobuf import json_format

from vertex_launcher.channels import plaintext_channel
from vertex_launcher.errors import (
    AlreadyExistsError,
    ApiError,
    AuthError,
    ConfigError,
    LauncherError,
    NotFoundError,
    QuotaExceededError,
    TransientApiError,
)
from vertex_launcher.jobs import RUN_LABEL, SCHEDULE_LABEL, JobKind, JobRequest, JobView
from vertex_launcher.redaction import redact_text
from vertex_launcher.result import ACTIVE_STATES, TERMINAL_STATES

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

#: Deadline of one API call; a create that outlives it is "ambiguous" and followed by a lookup.
CALL_TIMEOUT_SECONDS = 30.0

_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.GatewayTimeout,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.Unknown,
    gexc.BadGateway,
)


def _message_type(kind: JobKind) -> Any:
    from google.cloud.aiplatform_v1.types import custom_job, pipeline_job

    return custom_job.CustomJob if kind == "custom" else pipeline_job.PipelineJob


def canonical(request: JobRequest) -> dict[str, Any]:
    """The request body as Vertex will read it (REST JSON); ConfigError naming the field Vertex would not know."""
    message_type = _message_type(request.kind)
    try:
        message = json_format.ParseDict(request.body, message_type.pb(message_type()))
    except json_format.ParseError as exc:
        source = "VERTEX_LAUNCHER_SPEC_FILE" if request.kind == "custom" else "VERTEX_LAUNCHER_PIPELINE_TEMPLATE"
        detail = " ".join(str(exc).replace("google.cloud.aiplatform.v1.", "").split())
        msg = f"{source}: {detail.replace('Available Fields(except extensions):', 'known fields:')}"
        raise ConfigError(msg) from None
    return dict(json_format.MessageToDict(message))


def create_request_json(request: JobRequest) -> dict[str, Any]:
    """The full create request, as ``render`` prints it."""
    if request.kind == "custom":
        return {"method": "JobService.CreateCustomJob", "parent": request.parent, "customJob": canonical(request)}
    return {
        "method": "PipelineService.CreatePipelineJob",
        "parent": request.parent,
        "pipelineJobId": request.pipeline_job_id,
        "pipelineJob": canonical(request),
    }


class GapicBackend:
    """``JobBackend`` over ``JobServiceClient`` (custom) or ``PipelineServiceClient`` (pipeline)."""

    def __init__(
        self, *, kind: JobKind, region: str, credentials: Credentials, endpoint: str | None, insecure: bool
    ) -> None:
        self.kind = kind
        endpoint = endpoint or f"{region}-aiplatform.googleapis.com"
        if kind == "custom":
            from google.cloud.aiplatform_v1.services import job_service as service
        else:
            from google.cloud.aiplatform_v1.services import pipeline_service as service  # type: ignore[no-redef]
        client_cls: Any = service.JobServiceClient if kind == "custom" else service.PipelineServiceClient  # type: ignore[attr-defined]
        if insecure:
            transport_cls = client_cls.get_transport_class("grpc")
            transport = transport_cls(channel=plaintext_channel(endpoint, credentials))
            self._client: Any = client_cls(transport=transport)
        else:
            self._client = client_cls(credentials=credentials, client_options={"api_endpoint": endpoint})
        self._noun = "custom_job" if kind == "custom" else "pipeline_job"
        self._state_prefix = "JOB_STATE_" if kind == "custom" else "PIPELINE_STATE_"

    # --- JobBackend ---
    def find_run(self, request: JobRequest) -> list[JobView]:
        """See ``JobBackend``."""
        return self._list(request.parent, f'labels.{RUN_LABEL}="{request.run_label}"')

    def list_active(self, request: JobRequest) -> list[JobView]:
        """See ``JobBackend``: filtered by schedule label and not-ended on the server, checked again here.

        The filter is a plain AND chain of ``state!=`` terms (no OR, no parentheses), the simplest AIP-160 form.
        """
        ended = [state for state in TERMINAL_STATES if state.startswith(self._state_prefix)]
        not_ended = " AND ".join(f'state!="{state}"' for state in ended)
        found = self._list(request.parent, f'labels.{SCHEDULE_LABEL}="{request.schedule_label}" AND {not_ended}')
        return [
            job
            for job in found
            if job.labels.get(RUN_LABEL) != request.run_label
            and job.state.removeprefix(self._state_prefix) in ACTIVE_STATES
        ]

    def create(self, request: JobRequest) -> JobView:
        """See ``JobBackend``. Failures that may have reached the server come back as ambiguous."""
        message_type = _message_type(self.kind)
        job = message_type.wrap(json_format.ParseDict(request.body, message_type.pb(message_type())))
        if self.kind == "custom":
            call = lambda: self._client.create_custom_job(  # noqa: E731
                parent=request.parent, custom_job=job, retry=None, timeout=CALL_TIMEOUT_SECONDS
            )
        else:
            call = lambda: self._client.create_pipeline_job(  # noqa: E731
                parent=request.parent,
                pipeline_job=job,
                pipeline_job_id=request.pipeline_job_id,
                retry=None,
                timeout=CALL_TIMEOUT_SECONDS,
            )
        return self._view(_call(call, create=True))

    def get(self, name: str) -> JobView:
        """See ``JobBackend``."""
        method = getattr(self._client, f"get_{self._noun}")
        return self._view(_call(lambda: method(name=name, retry=None, timeout=CALL_TIMEOUT_SECONDS)))

    def cancel(self, name: str) -> None:
        """See ``JobBackend``."""
        method = getattr(self._client, f"cancel_{self._noun}")
        _call(lambda: method(name=name, retry=None, timeout=CALL_TIMEOUT_SECONDS))

    # --- helpers ---
    def _list(self, parent: str, filter_: str) -> list[JobView]:
        method = getattr(self._client, f"list_{self._noun}s")
        pages = _call(
            lambda: method(request={"parent": parent, "filter": filter_}, retry=None, timeout=CALL_TIMEOUT_SECONDS)
        )
        return [self._view(job) for job in _call(lambda: list(pages))]

    def _view(self, job: Any) -> JobView:
        error = None
        if job.error and job.error.code:
            error = {"code": job.error.code, "message": job.error.message}
        return JobView(
            name=job.name,
            state=job.state.name,
            display_name=job.display_name,
            labels=dict(job.labels),
            create_time=_time(job.create_time),
            start_time=_time(job.start_time),
            end_time=_time(job.end_time),
            error=error,
            tasks=_task_summary(job.job_detail.task_details) if self.kind == "pipeline" else None,
            task_jobs=_task_jobs(job.job_detail.task_details) if self.kind == "pipeline" else {},
        )


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _task_summary(tasks: Iterable[Any]) -> dict[str, Any] | None:
    tasks = list(tasks)
    if not tasks:
        return None
    states = Counter(task.state.name for task in tasks)
    failed = sorted(task.task_name for task in tasks if task.state.name == "FAILED")
    return {"counts": dict(sorted(states.items())), "failed": failed}


def _task_jobs(tasks: Iterable[Any]) -> dict[str, str]:
    """Task name → its CustomJob (``executor_detail``: container tasks' ``main_job``, custom-job tasks' ``job``)."""
    found = {}
    for task in tasks:
        detail = task.executor_detail
        name = detail.container_detail.main_job or detail.custom_job_detail.job
        if name:
            found[task.task_name] = name
    return found


def _call(fn: Callable[[], Any], *, create: bool = False) -> Any:
    from google.auth import exceptions as auth_exceptions

    try:
        return fn()
    except gexc.GoogleAPICallError as exc:
        raise translate(exc, create=create) from None
    except auth_exceptions.RefreshError as exc:
        msg = f"could not refresh the access token: {redact_text(str(exc.args[0] if exc.args else exc))}"
        raise AuthError(msg) from None
    except auth_exceptions.TransportError as exc:
        msg = f"could not reach the token endpoint: {redact_text(str(exc.args[0] if exc.args else exc))}"
        raise TransientApiError(msg, code="UNAVAILABLE") from None


def _retry_after(exc: gexc.GoogleAPICallError) -> float | None:
    from google.rpc import error_details_pb2

    for detail in exc.details or ():
        if isinstance(detail, error_details_pb2.RetryInfo):
            return float(detail.retry_delay.ToTimedelta().total_seconds())
    return None


def _quota_metric(exc: gexc.GoogleAPICallError) -> str | None:
    from google.rpc import error_details_pb2

    for detail in exc.details or ():
        if isinstance(detail, error_details_pb2.QuotaFailure) and detail.violations:
            return str(detail.violations[0].subject or detail.violations[0].description)
    message = exc.message or ""
    if "exceed quota limits" in message:
        return message.rsplit(":", 1)[-1].strip()
    return None


def translate(exc: gexc.GoogleAPICallError, *, create: bool = False) -> LauncherError:  # noqa: PLR0911 - a table
    """One API error → the launcher error that says what happened and whether a retry can help."""
    code = getattr(exc.grpc_status_code, "name", None) or type(exc).__name__
    text = f"{code}: {exc.message}"
    if isinstance(exc, gexc.Unauthenticated | gexc.PermissionDenied | gexc.Forbidden):
        return AuthError(f"Vertex AI refused the call ({text})", code=code)
    if isinstance(exc, gexc.InvalidArgument | gexc.BadRequest) and "act as" in (exc.message or "").lower():
        msg = (
            f"Vertex AI answered INVALID_ARGUMENT, which is how it reports a missing iam.serviceAccounts.actAs "
            f"permission on the job's service account: grant roles/iam.serviceAccountUser on it ({exc.message})"
        )
        return AuthError(msg, code=code)
    if isinstance(exc, gexc.TooManyRequests | gexc.ResourceExhausted):
        retry_after = _retry_after(exc)
        metric = _quota_metric(exc) if create and retry_after is None else None
        if metric:
            return QuotaExceededError(f"Vertex AI quota exceeded: {metric} ({text})", code=code)
        return TransientApiError(f"rate limited ({text})", code=code, retry_after=retry_after)
    if isinstance(exc, _TRANSIENT):
        return TransientApiError(text, code=code, retry_after=_retry_after(exc), ambiguous=create)
    if isinstance(exc, gexc.AlreadyExists | gexc.Conflict):
        return AlreadyExistsError(text, code=code)
    if isinstance(exc, gexc.NotFound) and not create:
        return NotFoundError(text, code=code)
    if isinstance(
        exc, gexc.InvalidArgument | gexc.BadRequest | gexc.FailedPrecondition | gexc.NotFound | gexc.OutOfRange
    ):
        if isinstance(exc, gexc.FailedPrecondition) and not create:
            return ApiError(text, code=code)
        return ConfigError(f"Vertex AI rejected the request ({text})", code=code)
    return ApiError(text, code=code)
