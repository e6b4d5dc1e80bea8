"""The Vertex AI adapter: the launcher's only import of ``google.cloud.aiplatform*``.

``canonical`` checks a ``JobRequest`` body against the real protobuf types (and is all ``render`` needs);
``GapicBackend`` implements ``jobs.JobBackend`` with the ``aiplatform_v1`` GAPIC clients over gRPC and translates
``google.api_core`` exceptions into ``vertex_launcher.errors``. Built by the composition root; used by ``watch``.
The GAPIC package is imported lazily, so ``--help`` and configuration errors never pay for it (~1 s, ~100 MB).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
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
from vertex_launcher.jobs import NAMESPACE_LABEL, RUN_LABEL, SCHEDULE_LABEL, JobKind, JobRequest, JobView, Pool
from vertex_launcher.redaction import redact_text
from vertex_launcher.result import ACTIVE_STATES, TERMINAL_STATES

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

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


def _parse(request: JobRequest) -> Any:
    """The body as the job's protobuf message (the raw ``_pb``). Raises ``json_format.ParseError``."""
    message_type = _message_type(request.kind)
    message = message_type.pb(message_type())
    body = _one_value_lists(request.body, message.DESCRIPTOR) if request.kind == "custom" else request.body
    return json_format.ParseDict(body, message)


def _one_value_lists(data: Any, descriptor: Any) -> Any:
    """As ``gcloud ai custom-jobs create --config`` reads a spec (apitools): one value where a list goes is a list.

    gcloud's own help writes ``workerPoolSpecs:`` as a single mapping; the same holds for every repeated field
    (``args: --epochs=1``, ``reservedIpRanges: my-range``). Map fields and ``google.protobuf`` types are left alone.
    """
    if not isinstance(data, dict):
        return data
    fields = {**descriptor.fields_by_name, **descriptor.fields_by_camelcase_name}
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        message = field.message_type if field is not None else None
        if field is None or (message is not None and message.GetOptions().map_entry):
            out[key] = value
            continue
        listed = [value] if field.is_repeated and value is not None and not isinstance(value, list) else value
        if message is not None and not message.full_name.startswith("google.protobuf."):
            items = [_one_value_lists(item, message) for item in (listed if isinstance(listed, list) else [listed])]
            listed = items if isinstance(listed, list) else items[0]
        out[key] = listed
    return out


def canonical(request: JobRequest) -> dict[str, Any]:
    """The request body as Vertex will read it (REST JSON); ConfigError naming the field Vertex would not know."""
    try:
        message = _parse(request)
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
    def find_run(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend``. ListCustomJobs documents no order (and no order_by): sorted here, newest first."""
        found = self._list(request.parent, f'labels.{RUN_LABEL}="{request.run_label}"', timeout)
        return sorted(found, key=_created, reverse=True)

    def list_active(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend``: filtered by schedule (and namespace) label and not-ended on the server; checked here.

        The filter is a plain AND chain of ``state!=`` terms (no OR, no parentheses), the simplest AIP-160 form. Jobs
        of the same schedule name in another namespace (dev and prod in one project) are other schedules.
        """
        ended = [state for state in TERMINAL_STATES if state.startswith(self._state_prefix)]
        terms = [f'labels.{SCHEDULE_LABEL}="{request.schedule_label}"']
        if request.namespace_label:
            terms.append(f'labels.{NAMESPACE_LABEL}="{request.namespace_label}"')
        terms += [f'state!="{state}"' for state in ended]
        found = self._list(request.parent, " AND ".join(terms), timeout)
        return [
            job
            for job in found
            if job.labels.get(RUN_LABEL) != request.run_label
            and job.labels.get(NAMESPACE_LABEL) == request.namespace_label
            and job.state.removeprefix(self._state_prefix) in ACTIVE_STATES
        ]

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        """See ``JobBackend``. Failures that may have reached the server come back as ambiguous."""
        job = _message_type(self.kind).wrap(_parse(request))
        if self.kind == "custom":
            call = lambda: self._client.create_custom_job(  # noqa: E731
                parent=request.parent, custom_job=job, retry=None, timeout=timeout
            )
        else:
            call = lambda: self._client.create_pipeline_job(  # noqa: E731
                parent=request.parent,
                pipeline_job=job,
                pipeline_job_id=request.pipeline_job_id,
                retry=None,
                timeout=timeout,
            )
        return self._view(_call(call, create=True))

    def get(self, name: str, *, timeout: float) -> JobView:
        """See ``JobBackend``."""
        method = getattr(self._client, f"get_{self._noun}")
        return self._view(_call(lambda: method(name=name, retry=None, timeout=timeout)))

    def cancel(self, name: str, *, timeout: float) -> None:
        """See ``JobBackend``."""
        method = getattr(self._client, f"cancel_{self._noun}")
        _call(lambda: method(name=name, retry=None, timeout=timeout))

    # --- helpers ---
    def _list(self, parent: str, filter_: str, timeout: float) -> list[JobView]:
        method = getattr(self._client, f"list_{self._noun}s")
        pages = _call(lambda: method(request={"parent": parent, "filter": filter_}, retry=None, timeout=timeout))
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
            pools=_pools(job.job_spec) if self.kind == "custom" else (),
            strategy=_strategy(job.job_spec) if self.kind == "custom" else None,
        )


def _pools(spec: Any) -> tuple[Pool, ...]:
    """The machines of each non-empty worker pool (an empty placeholder pool holds none)."""
    pools = []
    for pool in spec.worker_pool_specs:
        machine = pool.machine_spec
        if not machine.machine_type:
            continue
        accelerator = machine.accelerator_type.name if machine.accelerator_count else None
        pools.append(Pool(machine.machine_type, int(pool.replica_count), accelerator, int(machine.accelerator_count)))
    return tuple(pools)


def _strategy(spec: Any) -> str | None:
    strategy = spec.scheduling.strategy
    return None if not strategy else str(strategy.name)


def _created(job: JobView) -> datetime:
    return datetime.fromisoformat(job.create_time) if job.create_time else datetime.min.replace(tzinfo=UTC)


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


def _details(exc: gexc.GoogleAPICallError) -> list[tuple[str, dict[str, Any]]]:
    """Each google.rpc detail as (type name, its JSON form): gRPC gives messages, REST the JSON body's dicts."""
    from google.protobuf.message import Message

    out: list[tuple[str, dict[str, Any]]] = []
    for detail in exc.details or ():
        if isinstance(detail, Message):
            out.append((detail.DESCRIPTOR.name, json_format.MessageToDict(detail)))
        elif isinstance(detail, dict):
            out.append((str(detail.get("@type", "")).rsplit(".", 1)[-1], detail))
    return out


def _retry_after(exc: gexc.GoogleAPICallError) -> float | None:
    from google.protobuf import duration_pb2

    for kind, detail in _details(exc):
        if kind == "RetryInfo" and "retryDelay" in detail:
            delay = duration_pb2.Duration()
            delay.FromJsonString(str(detail["retryDelay"]))
            return float(delay.ToTimedelta().total_seconds())
    return None


#: Words that make a quota a rate (it refills with time): "per minute", "PerMinutePerProject", "..._requests",
#: a quota_unit like "1/min/{project}/{region}". Allocation quotas count resources held (GPUs, CPUs, TPU cores).
_RATE_WORDS = re.compile(r"per[\s_-]*(second|minute|hour|day)|requests|\b1/(min|s|h|d)\b", re.IGNORECASE)
#: Google's standard rate-limit message; Vertex's allocation-quota message.
_RATE_MESSAGE = re.compile(r"Quota exceeded for quota metric '([^']*)' and limit '([^']*)'")
_ALLOCATION_MESSAGE = re.compile(r"The following quota metrics exceed quota limits:\s*(.+?)\s*$")


def _quota_kind(exc: gexc.GoogleAPICallError) -> tuple[str | None, str | None]:
    """("rate" | "allocation" | None, the quota the error names), read from its details first, then its message.

    An ErrorInfo reason decides (RATE_LIMIT_EXCEEDED, RESOURCE_QUOTA_EXCEEDED); else a named quota is a rate if
    anything about it says so (or the server sent RetryInfo) and an allocation quota if not; else nothing is known.
    """
    reason, names = None, []
    for kind, detail in _details(exc):
        if kind == "ErrorInfo":
            reason = detail.get("reason")
            metadata = detail.get("metadata") or {}
            names += [str(metadata[k]) for k in ("quota_metric", "quota_limit", "quota_unit") if metadata.get(k)]
        elif kind == "QuotaFailure":
            for violation in detail.get("violations", []):
                keys = ("quotaMetric", "quotaId", "description")  # subject is the consumer, not the quota
                names += [str(violation[k]) for k in keys if violation.get(k)]
    message = exc.message or ""
    if rate := _RATE_MESSAGE.search(message):
        names += [rate.group(1), rate.group(2)]
    if allocation := _ALLOCATION_MESSAGE.search(message):
        names.insert(0, allocation.group(1).strip(" ,."))
    named = names[0] if names else None
    if reason == "RATE_LIMIT_EXCEEDED":
        return "rate", named
    if reason == "RESOURCE_QUOTA_EXCEEDED":
        return "allocation", named
    if any(_RATE_WORDS.search(name) for name in names) or _retry_after(exc) is not None:
        return "rate", named
    return ("allocation", named) if named else (None, None)


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
        # Only a create takes resources (GPUs...): on any other call RESOURCE_EXHAUSTED is a rate limit.
        kind, quota = _quota_kind(exc)
        if create and kind == "allocation":
            return QuotaExceededError(f"Vertex AI quota exceeded: {quota or 'a resource quota'} ({text})", code=code)
        # A rate limit, or an exhaustion that names no quota: retry with backoff (RetryInfo, when sent, first).
        what = f"rate limited by {quota}" if kind == "rate" else "resources exhausted"
        return TransientApiError(f"{what} ({text})", code=code, retry_after=_retry_after(exc))
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
