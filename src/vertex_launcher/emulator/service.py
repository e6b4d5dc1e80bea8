"""The transport-neutral Vertex job API: one ``Api.handle`` per request, shared by gRPC and REST.

Per request, in order: authenticate the bearer token, the per-minute request quota the method counts against
(job submission for creates, CRUD otherwise; a sliding window per project and region), fault rules (delay, error
before or after the operation), IAM permission, the operation on the ``JobStore``, persistence, one request-log
entry. Also the control operations behind ``/_emulator/`` (``control`` module) and testIamPermissions.
Everything that touches state runs under one lock; injected delays sleep outside it.
"""

from __future__ import annotations

import collections
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1.types import job_service, pipeline_service
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from vertex_launcher.emulator import capacity, filters, persist, pipeline_run, validation
from vertex_launcher.emulator.config import ConfigError, Defaults, JobRule, Settings, check_limit
from vertex_launcher.emulator.errors import CRUD, SUBMISSION, ApiError, RateQuota, invalid, rate_limited
from vertex_launcher.emulator.faults import FaultRule, FaultSet
from vertex_launcher.emulator.iam import Iam, Principal
from vertex_launcher.emulator.joblogs import LogSimulation
from vertex_launcher.emulator.lifecycle import OUTCOMES, SimClock, Timeline
from vertex_launcher.emulator.resources import CUSTOM, PIPELINE, Kind, split_parent
from vertex_launcher.emulator.store import JobRecord, JobStore, now_rfc3339

OUTCOME_LABEL = "emulator-outcome"
RUN_SECONDS_LABEL = "emulator-run-seconds"
ALL_STATES = CUSTOM.states | PIPELINE.states


@dataclass(frozen=True)
class Method:
    """One RPC: its gRPC service/name, the job kind and verb, and the proto-plus request/response types."""

    service: str
    name: str
    kind: Kind
    verb: str
    request: Any
    response: Any

    @property
    def permission(self) -> str:
        """The IAM permission Vertex checks for this method."""
        return f"aiplatform.{self.kind.collection}.{self.verb}"


JOB_SERVICE = "google.cloud.aiplatform.v1.JobService"
PIPELINE_SERVICE = "google.cloud.aiplatform.v1.PipelineService"
_JS, _PS = job_service, pipeline_service
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(JOB_SERVICE, "CreateCustomJob", CUSTOM, "create", _JS.CreateCustomJobRequest, None),
        Method(JOB_SERVICE, "GetCustomJob", CUSTOM, "get", _JS.GetCustomJobRequest, None),
        Method(JOB_SERVICE, "ListCustomJobs", CUSTOM, "list", _JS.ListCustomJobsRequest, _JS.ListCustomJobsResponse),
        Method(JOB_SERVICE, "CancelCustomJob", CUSTOM, "cancel", _JS.CancelCustomJobRequest, None),
        Method(PIPELINE_SERVICE, "CreatePipelineJob", PIPELINE, "create", _PS.CreatePipelineJobRequest, None),
        Method(PIPELINE_SERVICE, "GetPipelineJob", PIPELINE, "get", _PS.GetPipelineJobRequest, None),
        Method(
            PIPELINE_SERVICE,
            "ListPipelineJobs",
            PIPELINE,
            "list",
            _PS.ListPipelineJobsRequest,
            _PS.ListPipelineJobsResponse,
        ),
        Method(PIPELINE_SERVICE, "CancelPipelineJob", PIPELINE, "cancel", _PS.CancelPipelineJobRequest, None),
    )
}
#: Method name → its gRPC service, for fault rules (which may name a method either way).
#: Every method a fault rule may name: the job services', and the Logging API's read methods (``logging_api``).
LOGGING_SERVICE = "google.logging.v2.LoggingServiceV2"
SERVED = {
    **{method.name: method.service for method in METHODS.values()},
    "ListLogEntries": LOGGING_SERVICE,
    "TailLogEntries": LOGGING_SERVICE,
}


class Api:
    """All emulator state and every operation on it."""

    def __init__(self, settings: Settings) -> None:
        self.lock = threading.RLock()
        self.settings = settings
        self.clock = SimClock(scale=settings.time_scale)
        self.store = JobStore(self.clock, seed=settings.seed)
        self.defaults = Defaults(**asdict(settings.defaults))
        self.rules: list[JobRule] = []
        self.faults = FaultSet(SERVED)
        self.iam = Iam(require_auth=settings.require_auth)
        self.gpu_quota: dict[str, float] = {}
        self.capacity: list[capacity.CapacityRule] = []
        self.buckets: dict[str, list[str]] = {}
        self.rate_limit_per_minute = 0
        self.submission_limit_per_minute = 0
        self.rate_limit_retry_info = False
        self.requests: list[dict[str, Any]] = []
        #: Accepted calls' monotonic times per (quota metric, project, region), for the sliding minute.
        self._windows: dict[tuple[str, str, str], collections.deque[float]] = {}
        self.logs = LogSimulation()
        self._apply_runtime(self._startup_runtime())
        if settings.state_file is not None and settings.state_file.exists():
            self._load(settings.state_file)

    # ----- runtime configuration (control API, config file, state file) -----

    def _startup_runtime(self) -> dict[str, Any]:
        s = self.settings
        return {
            "defaults": asdict(s.defaults),
            "time_scale": s.time_scale,
            "rules": s.rules,
            "faults": s.faults,
            "principals": s.principals,
            "gpu_quota": s.gpu_quota,
            "capacity": s.capacity,
            "buckets": s.buckets,
            "rate_limit_per_minute": s.rate_limit_per_minute,
            "submission_limit_per_minute": s.submission_limit_per_minute,
            "rate_limit_retry_info": s.rate_limit_retry_info,
            "require_auth": s.require_auth,
        }

    def runtime(self) -> dict[str, Any]:
        """The current runtime configuration as JSON."""
        return {
            "defaults": asdict(self.defaults),
            "time_scale": self.clock.scale,
            "rules": [rule.to_json() for rule in self.rules],
            "faults": self.faults.to_json(),
            "principals": self.iam.to_json(),
            "gpu_quota": self.gpu_quota,
            "capacity": [rule.to_json() for rule in self.capacity],
            "buckets": self.buckets,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "submission_limit_per_minute": self.submission_limit_per_minute,
            "rate_limit_retry_info": self.rate_limit_retry_info,
            "require_auth": self.iam.require_auth,
        }

    def _apply_runtime(self, data: dict[str, Any]) -> None:
        """Replace the runtime configuration (all of it must be valid, else ConfigError and no change)."""
        defaults = Defaults()
        defaults.update(data.get("defaults", {}))
        rules = [JobRule.from_json(item) for item in data.get("rules", [])]
        for rule in rules:
            _compile_rule(rule)
        faults = FaultSet(SERVED)
        try:
            faults.load_json(list(data.get("faults", [])))
            iam = Iam(require_auth=bool(data.get("require_auth", False)))
            iam.set_principals(list(data.get("principals", [])))
            rules_of_capacity = [capacity.CapacityRule.from_json(item) for item in data.get("capacity", [])]
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        buckets = _buckets(data.get("buckets", {}))
        scale = float(data.get("time_scale", self.clock.scale))
        if scale <= 0:
            msg = f"time_scale must be > 0, got {scale}"
            raise ConfigError(msg)
        crud = check_limit("rate_limit_per_minute", data.get("rate_limit_per_minute", 0))
        submissions = check_limit("submission_limit_per_minute", data.get("submission_limit_per_minute", 0))
        retry_info = data.get("rate_limit_retry_info", False)
        if not isinstance(retry_info, bool):
            msg = f"rate_limit_retry_info must be true or false, got {retry_info!r}"
            raise ConfigError(msg)
        self.defaults, self.rules, self.faults, self.iam = defaults, rules, faults, iam
        self.gpu_quota = {str(k).upper(): float(v) for k, v in data.get("gpu_quota", {}).items()}
        self.capacity = rules_of_capacity
        self.buckets = buckets
        self.rate_limit_per_minute, self.submission_limit_per_minute = crud, submissions
        self.rate_limit_retry_info = retry_info
        if scale != self.clock.scale:
            self.clock.set_scale(scale)

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/config``: change some settings; the others keep their value.

        Keys: the Defaults fields, time_scale, rules, gpu_quota, capacity, buckets, rate_limit_per_minute,
        submission_limit_per_minute, rate_limit_retry_info, require_auth.
        """
        with self.lock:
            current = self.runtime()
            lifecycle_keys = set(current["defaults"])
            other = {
                "time_scale",
                "rules",
                "gpu_quota",
                "capacity",
                "buckets",
                "rate_limit_per_minute",
                "submission_limit_per_minute",
                "rate_limit_retry_info",
                "require_auth",
            }
            unknown = sorted(set(data) - lifecycle_keys - other)
            if unknown:
                msg = f"unknown config key(s) {unknown}; known: {sorted(lifecycle_keys | other)}"
                raise ConfigError(msg)
            current["defaults"].update({k: v for k, v in data.items() if k in lifecycle_keys})
            current.update({k: v for k, v in data.items() if k in other})
            self._apply_runtime(current)
            self.save()
            return self.runtime()

    def add_faults(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST /_emulator/faults``: append rules; the active rules."""
        with self.lock:
            try:
                self.faults.add(items)
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc)) from exc
            self.save()
            return self.faults.to_json()

    def set_principals(self, items: list[dict[str, Any]], *, require_auth: bool | None = None) -> list[dict[str, Any]]:
        """``POST /_emulator/principals``: replace the principals (empty turns IAM off)."""
        with self.lock:
            try:
                self.iam.set_principals(items)
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc)) from exc
            if require_auth is not None:
                self.iam.require_auth = require_auth
            self.save()
            return self.iam.to_json()

    def reset(self) -> None:
        """``POST /_emulator/reset``: no jobs, empty request log, the startup configuration again."""
        with self.lock:
            self.store.clear()
            self.requests.clear()
            self._windows.clear()
            self.logs.reset()
            # Re-anchor simulated time so timestamps of new jobs read as real time again.
            self.clock.wall_origin = time.time() - self.clock.now()
            self._apply_runtime(self._startup_runtime())
            self.save()

    def force(self, ref: str, state: str) -> dict[str, Any]:
        """``POST /_emulator/jobs/{id}:force``: pin a job's state."""
        with self.lock:
            record = self.store.force(ref, state)
            self.save()
            return self.summary(record)

    def summary(self, record: JobRecord) -> dict[str, Any]:
        """The control API's view of one job."""
        job: Any = self.store.view(record)
        view = self.store.job_view(record)
        return {
            "name": record.name,
            "kind": record.kind.key,
            "display_name": job.display_name,
            "state": view.state,
            "labels": dict(job.labels),
            "create_time": now_rfc3339(self.clock.wall(record.timeline.created)),
            "start_time": job.start_time.ToJsonString() if job.HasField("start_time") else None,
            "end_time": job.end_time.ToJsonString() if job.HasField("end_time") else None,
        }

    def jobs(self) -> list[dict[str, Any]]:
        """``GET /_emulator/jobs``: every job of both kinds, newest first."""
        with self.lock:
            return [self.summary(record) for record in self.store.records()]

    def request_log(self) -> list[dict[str, Any]]:
        """``GET /_emulator/requests``: the request log since start or reset."""
        with self.lock:
            return list(self.requests)

    # ----- persistence -----

    def save(self) -> None:
        """Write the state file (if any) atomically."""
        path = self.settings.state_file
        if path is None:
            return
        data = {
            "version": 1,
            "sim": self.clock.now(),
            "wall": time.time(),
            "wall_origin": self.clock.wall_origin,
            "store": self.store.to_json(),
            "runtime": self.runtime(),
        }
        persist.write_json_atomic(path, data)

    def _load(self, path: Path) -> None:
        data = persist.read_json(path)
        scale = float(data["runtime"].get("time_scale", self.settings.time_scale))
        sim = float(data["sim"]) + max(0.0, time.time() - float(data["wall"])) * scale
        self.clock = SimClock(scale=scale, start=sim, wall_origin=float(data["wall_origin"]))
        self.store.clock = self.clock
        self.store.load_json(data["store"])
        self._apply_runtime(data["runtime"])

    # ----- the API -----

    def handle(self, method_name: str, request: Message, *, transport: str, token: str | None) -> Message:
        """Serve one API request; raises ApiError with the status the client must see."""
        method = METHODS[method_name]
        started = time.time()
        entry: dict[str, Any] = {
            "time": now_rfc3339(started),
            "transport": transport,
            "method": method.name,
            "resource": _resource_of(request),
            "principal": None,
            "code": "OK",
            "fault": False,
        }
        try:
            return self._handle(method, request, transport=transport, token=token, entry=entry)
        except ApiError as exc:
            entry["code"] = exc.code
            if transport == "rest":
                entry["http_status"] = exc.http_status
            raise
        finally:
            entry["duration_ms"] = round((time.time() - started) * 1000, 1)
            if transport == "rest":
                entry.setdefault("http_status", 200)
            self._log(entry)

    def _handle(
        self, method: Method, request: Message, *, transport: str, token: str | None, entry: dict[str, Any]
    ) -> Message:
        with self.lock:
            principal = self.iam.authenticate(token)
            entry["principal"] = principal.email if principal else None
            self._rate_limit(method, entry["resource"])
            rule = self.faults.fire(method.name, transport)
            if rule is not None:
                self.save()
        if rule is not None:
            entry["fault"] = True
        if rule is not None and not rule.apply_first:
            self._inject(rule, method, entry["resource"])
        with self.lock:
            response = self._operate(method, request, principal)
        if rule is not None and rule.apply_first:
            self._inject(rule, method, entry["resource"])
        return response

    def _inject(self, rule: FaultRule, method: Method, resource: str) -> None:
        """Stall for the rule's delay (outside the lock), then answer its error if it has one."""
        if rule.delay_seconds:
            time.sleep(rule.delay_seconds)
        project, region = self._scope(resource)
        error = rule.error(quota=_quota_of(method), consumer=project, region=region)
        if error is not None:
            raise error

    def _rate_limit(self, method: Method, resource: str) -> None:
        """Count the call against its quota's sliding minute; RESOURCE_EXHAUSTED (not counted) when it is full."""
        quota = _quota_of(method)
        limit = self.submission_limit_per_minute if quota is SUBMISSION else self.rate_limit_per_minute
        if limit <= 0:
            return
        project, region = self._scope(resource)
        window = self._windows.setdefault((quota.metric, project, region), collections.deque())
        now = time.monotonic()
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= limit:
            retry = max(0.1, 60.0 - (now - window[0])) if self.rate_limit_retry_info else None
            raise rate_limited(quota, consumer=project, region=region, limit=limit, retry_seconds=retry)
        window.append(now)

    def _scope(self, resource: str) -> tuple[str, str]:
        """(project, region) of a resource name or parent, the project as jobs are stored (number if configured)."""
        parts = self._normalize(resource).split("/")
        project = parts[1] if len(parts) > 1 and parts[0] == "projects" else "unknown"
        region = parts[3] if len(parts) > 3 and parts[2] == "locations" else "global"
        return project, region

    def _operate(self, method: Method, request: Any, principal: Principal | None) -> Message:
        kind = method.kind
        if method.verb in ("create", "list"):
            parent = self._normalize(request.parent)
            if split_parent(parent) is None:
                msg = f"Invalid parent {request.parent!r}: expected projects/*/locations/*."
                raise invalid(msg)
            self.iam.authorize(principal, method.permission, parent)
        else:
            name = self._normalize(request.name)
            self.iam.authorize(principal, method.permission, name)
        if method.verb == "create":
            job = request.custom_job if kind is CUSTOM else request.pipeline_job
            return self._create(kind, parent, job, request, principal)
        if method.verb == "list":
            fields = filters.CUSTOM_JOB_FIELDS if kind is CUSTOM else filters.PIPELINE_JOB_FIELDS
            predicate = filters.parse(request.filter, states=kind.states, fields=fields)
            jobs, token = self.store.list_jobs(
                kind,
                parent,
                predicate,
                page_size=request.page_size,
                page_token=request.page_token,
                order_by=getattr(request, "order_by", ""),
            )
            response: Any = method.response.pb()()
            field = "custom_jobs" if kind is CUSTOM else "pipeline_jobs"
            getattr(response, field).extend(jobs)
            response.next_page_token = token
            return response  # type: ignore[no-any-return]
        if method.verb == "get":
            return self.store.view(self.store.find(kind, name))
        self.store.cancel(kind, name)
        self.save()
        return empty_pb2.Empty()

    def _create(self, kind: Kind, parent: str, source: Any, request: Any, principal: Principal | None) -> Message:
        job: Any = kind.message()
        job.CopyFrom(source)
        for output_only in ("name", "state", "create_time", "start_time", "end_time", "update_time", "error"):
            job.ClearField(output_only)
        job_id = ""
        setup_error = None
        region = parent.split("/")[3]
        trouble = capacity.decide(job, region, self.capacity)
        if kind is CUSTOM:
            validation.validate_custom_job(job)
            self.iam.authorize_act_as(principal, job.job_spec.service_account)
            validation.check_gpu_quota(job, self.gpu_quota)
            if trouble == "quota":
                raise capacity.quota_refusal(job)
        else:
            job_id = request.pipeline_job_id
            job.ClearField("job_detail")
            validation.validate_pipeline_job(job, job_id)
            self.iam.authorize_act_as(principal, job.service_account)
            if not job.display_name:
                job.display_name = _pipeline_display_name(job)
            setup_error = pipeline_run.setup_failure(
                job, buckets=self.buckets, default_service_account=self._default_service_account(parent)
            )
        timeline = self._timeline(kind, job)
        if setup_error is not None:  # fails right after QUEUED, whatever labels or rules say
            timeline.pending = timeline.run = 0.0
            timeline.outcome, timeline.setup_error = "FAILED", setup_error
        elif trouble == "stockout":  # never gets its machines: FAILED after PENDING, never RUNNING
            timeline.run = 0.0
            timeline.outcome = "FAILED"
            timeline.setup_error = (capacity.RESOURCE_EXHAUSTED, capacity.stockout_message(region))
        elif trouble == "preempted":  # runs, then loses its Spot VMs for good
            timeline.outcome = "FAILED"
            timeline.setup_error = (capacity.RESOURCE_EXHAUSTED, capacity.preempted_message())
        elif trouble == "quota":  # a PipelineJob: its task's CustomJob is refused, so the run fails at once
            timeline.pending = timeline.run = 0.0
            timeline.outcome = "FAILED"
            timeline.setup_error = (capacity.RESOURCE_EXHAUSTED, capacity.quota_refusal(job).message)
        record = self.store.add(kind, parent, job, timeline, job_id=job_id or None)
        self.save()
        return self.store.view(record)

    def _timeline(self, kind: Kind, job: Any) -> Timeline:
        settings = asdict(self.defaults)
        view = filters.JobView(
            labels=dict(job.labels), state=kind.state_name("QUEUED"), display_name=job.display_name, name=""
        )
        for rule in self.rules:
            if _compile_rule(rule)(view):
                settings.update(rule.overrides)
        labels = dict(job.labels)
        if OUTCOME_LABEL in labels:
            if labels[OUTCOME_LABEL] not in OUTCOMES:
                msg = f"Label {OUTCOME_LABEL} must be one of {sorted(OUTCOMES)}, got {labels[OUTCOME_LABEL]!r}."
                raise invalid(msg)
            settings["outcome"] = labels[OUTCOME_LABEL]
        if RUN_SECONDS_LABEL in labels:
            if not labels[RUN_SECONDS_LABEL].isdigit():
                msg = f"Label {RUN_SECONDS_LABEL} must be a whole number of seconds."
                raise invalid(msg)
            settings["run_seconds"] = float(labels[RUN_SECONDS_LABEL])
        return Timeline(
            created=self.clock.now(),
            queued=settings["queued_seconds"],
            pending=settings["pending_seconds"],
            run=settings["run_seconds"],
            outcome=OUTCOMES[settings["outcome"]],
            cancel_delay=settings["cancel_seconds"],
        )

    def _default_service_account(self, parent: str) -> str:
        """The Compute Engine default service account of the parent's project (what a job without one runs as)."""
        project = parent.split("/")[1]
        number = project if project.isdigit() else self.settings.project_number or "000000000000"
        return f"{number}-compute@developer.gserviceaccount.com"

    def _normalize(self, resource: str) -> str:
        number = self.settings.project_number
        if not number or not resource.startswith("projects/"):
            return resource
        head, _, rest = resource[len("projects/") :].partition("/")
        if head.isdigit():
            return resource
        return f"projects/{number}/{rest}" if rest else f"projects/{number}"

    def test_iam_permissions(
        self, resource: str, permissions: list[str], *, transport: str, token: str | None
    ) -> list[str]:
        """The subset of ``permissions`` the caller holds on ``resource``.

        ``projects/P`` (Resource Manager ``projects.testIamPermissions``) or ``projects/-/serviceAccounts/EMAIL``
        (IAM ``serviceAccounts.testIamPermissions``).
        """
        started = time.time()
        entry: dict[str, Any] = {
            "time": now_rfc3339(started),
            "transport": transport,
            "method": "TestIamPermissions",
            "resource": resource,
            "principal": None,
            "code": "OK",
            "fault": False,
        }
        try:
            with self.lock:
                principal = self.iam.authenticate(token)
                entry["principal"] = principal.email if principal else None
                _, _, service_account = resource.partition("/serviceAccounts/")
                return self.iam.held(principal, permissions, service_account=service_account or None)
        except ApiError as exc:
            entry["code"] = exc.code
            raise
        finally:
            entry["duration_ms"] = round((time.time() - started) * 1000, 1)
            self._log(entry)

    def _log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            path = self.settings.request_log
            if path is not None:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
        if self.settings.verbose:
            print(json.dumps(entry), file=sys.stderr, flush=True)


def _buckets(data: Any) -> dict[str, list[str]]:
    """``{"bucket": ["sa@…" or "*", …]}``: who may write each existing bucket (pipeline roots)."""
    if not isinstance(data, dict) or not all(
        isinstance(writers, list) and all(isinstance(w, str) for w in writers) for writers in data.values()
    ):
        msg = f'buckets must map bucket names to lists of service accounts (or "*"), got {data!r}'
        raise ConfigError(msg)
    return {str(name).removeprefix("gs://"): list(writers) for name, writers in data.items()}


def _compile_rule(rule: JobRule) -> filters.Predicate:
    try:
        return filters.parse(rule.filter, states=ALL_STATES)
    except ApiError as exc:
        raise ConfigError(exc.message) from exc


def _resource_of(request: Any) -> str:
    for field in ("name", "parent"):
        if field in type(request).DESCRIPTOR.fields_by_name:
            return str(getattr(request, field))
    return ""


def _quota_of(method: Method) -> RateQuota:
    """The request quota a call counts against: creates are job submissions, the rest CRUD."""
    return SUBMISSION if method.verb == "create" else CRUD


def _pipeline_display_name(job: Any) -> str:
    spec = job.pipeline_spec
    info = spec.fields.get("pipelineInfo") if job.HasField("pipeline_spec") else None
    if info is not None and "name" in info.struct_value.fields:
        return str(info.struct_value.fields["name"].string_value)
    return "pipeline-job"
