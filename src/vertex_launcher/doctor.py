"""``vertex-launcher doctor``: would a run with this configuration be allowed? One log record per check.

Called by the composition root (``__main__._launch``) after it has validated the configuration, built and checked
the create request (spec file / pipeline template, against the Vertex protobuf types) and resolved the identity
(ADC source, principal, first token); a failure in those steps ends doctor with that step's own message and exit
code. ``run_doctor`` reports them as passed, then asks what a run could only find out by trying:

- the project permissions the configured run needs, from ``required_permissions`` (the ONE table mode →
  permissions, also used by the tests and shown in docs/identity.md), through Resource Manager
  ``projects.testIamPermissions``;
- ``iam.serviceAccounts.actAs`` on the job's runtime service account, through IAM
  ``serviceAccounts.testIamPermissions`` (Vertex reports a missing actAs only at create time, as INVALID_ARGUMENT).

Both calls need no permission of their own; they go over REST with google-auth's ``AuthorizedSession``. Every
failed check names its fix. The result is a ``RunResult`` for the canonical "run finished" record (``command:
doctor``): exit 0 only when no check failed, 3 when a permission is missing or refused, 5 when a check could not be
completed (network, 5xx, rate limit). Never imports the Vertex SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog

from vertex_launcher.jobs import JobRequest
from vertex_launcher.redaction import redact_text as redact
from vertex_launcher.result import ExitCode, Outcome, RunResult
from vertex_launcher.settings import Settings

if TYPE_CHECKING:
    from vertex_launcher.auth import Identity

log = structlog.get_logger(__name__)

ACT_AS = "iam.serviceAccounts.actAs"
#: The custom role made from deploy/iam/vertex-launcher-role.yaml (docs/identity.md).
ROLE_ID = "vertexLauncher"
ROLE_FILE = "deploy/iam/vertex-launcher-role.yaml"
LOG_WRITE = "logging.logEntries.create"
LOG_READ = "logging.logEntries.list"
HTTP_TIMEOUT_SECONDS = 30.0

Status = Literal["ok", "warning", "failed", "error"]


def required_permissions(settings: Settings) -> dict[str, str]:
    """The project permissions a run in this mode may use, each with the steps that use it (in run order).

    The one permission matrix: ``doctor`` checks it, the tests prove it against the emulator and the role file.
    - ``list``: always (reattach looks for this run's job by label; the concurrency check unless Allow);
    - ``create``: always;
    - ``get``: WAIT=true (watch), CONCURRENCY_POLICY=Replace (wait for the replaced jobs to leave RUNNING),
      pipelines (a create answered ALREADY_EXISTS reads the existing job);
    - ``cancel``: CONCURRENCY_POLICY=Replace, ON_TERMINATE=cancel (a stop signal, or TIMEOUT_SECONDS while watching).
    """
    noun = "customJobs" if settings.job_type == "custom" else "pipelineJobs"
    uses: dict[str, list[str]] = {verb: [] for verb in ("list", "cancel", "get", "create")}
    uses["list"].append("reattach: find this run's job by its vertex-launcher-run label")
    if settings.concurrency_policy != "Allow":
        uses["list"].append(f"CONCURRENCY_POLICY={settings.concurrency_policy}: find active jobs of the schedule")
    if settings.concurrency_policy == "Replace":
        uses["cancel"].append("CONCURRENCY_POLICY=Replace: cancel the earlier run's jobs")
        uses["get"].append("CONCURRENCY_POLICY=Replace: wait until the replaced jobs leave RUNNING")
    uses["create"].append("submit this run's job")
    if settings.job_type == "pipeline":
        uses["get"].append("read this run's job when its create answers ALREADY_EXISTS")
    if settings.wait:
        uses["get"].append("WAIT=true: watch the job to its end")
    if settings.on_terminate == "cancel":
        when = "when the pod is told to stop" + (" or TIMEOUT_SECONDS passes" if settings.wait else "")
        uses["cancel"].append(f"ON_TERMINATE=cancel: cancel this run's job {when}")
    return {f"aiplatform.{noun}.{verb}": "; ".join(steps) for verb, steps in uses.items() if steps}


def runtime_service_account(request: JobRequest) -> str | None:
    """The service account the Vertex job runs as (SERVICE_ACCOUNT or the spec's own), if one is named."""
    where = request.body.get("jobSpec", {}) if request.kind == "custom" else request.body
    value = where.get("serviceAccount") or where.get("service_account")
    return str(value) if value else None


def iam_member(principal: str | None) -> str:
    """The ``--member`` value that grants to ``principal`` (``MEMBER`` when it cannot be told)."""
    if not principal:
        return "MEMBER"
    if principal.startswith(("principal://", "principalSet://")):
        return principal
    if principal.endswith(".svc.id.goog"):  # GKE without a Google SA, KSA unknown: docs/identity.md (b)
        return (
            "principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/"
            f"{principal}/subject/ns/NAMESPACE/sa/KSA"
        )
    if principal.endswith(".gserviceaccount.com"):
        return f"serviceAccount:{principal}"
    return f"user:{principal}" if "@" in principal else "MEMBER"


@dataclass(frozen=True)
class Check:
    """One line of the report. ``error``: the check could not be completed (not the same as failed)."""

    name: str
    status: Status
    summary: str
    fields: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None


def run_doctor(*, settings: Settings, identity: Identity, request: JobRequest) -> RunResult:
    """Check everything a run needs, log one record per check, and return the doctor's result.

    Never raises a LauncherError: a check that cannot be completed is reported with status ``error``.
    """
    post = _authorized_post(identity)
    needed = required_permissions(settings)
    checks = [
        _identity(identity),
        _access_token(identity),
        _project(settings, identity, request),
        _region(settings),
        _spec(settings, request),
        _permissions(settings, identity, request, needed, post),
        _act_as(settings, identity, request, post),
    ]
    if settings.log_sink == "cloud-logging":
        checks.append(_log_writer(settings, identity, request, post))
    if settings.stream_logs:
        checks.append(_log_reader(settings, identity, request, post))
    for check in checks:
        _report(check)
    return _result(checks, identity, request, settings, needed)


# --- the checks ----------------------------------------------------------------------------------------------------


def _identity(identity: Identity) -> Check:
    fields = {
        "credential_source": identity.source,
        "principal": identity.principal,
        "source_principal": identity.source_principal,
    }
    if identity.source == "anonymous":
        summary = "CREDENTIALS=anonymous: no credentials are sent (only an emulator accepts that)"
        return Check("identity", "warning", summary, fields)
    if not identity.principal:
        summary = f"credentials from {identity.source}; the principal could not be told"
        return Check("identity", "warning", summary, fields)
    return Check("identity", "ok", f"credentials from {identity.source}, acting as {identity.principal}", fields)


def _access_token(identity: Identity) -> Check:
    credentials = identity.credentials
    if identity.source == "anonymous":
        return Check("token-fetch", "warning", "no access token (CREDENTIALS=anonymous)")
    expiry = getattr(credentials, "expiry", None)  # google-auth: naive UTC
    if isinstance(expiry, datetime) and expiry.tzinfo is not None:
        expiry = expiry.astimezone(UTC).replace(tzinfo=None)
    fields = {"expires_at": f"{expiry.isoformat(timespec='seconds')}Z" if isinstance(expiry, datetime) else None}
    return Check("token-fetch", "ok", "an access token was fetched (its value is never logged)", fields)


def _project(settings: Settings, identity: Identity, request: JobRequest) -> Check:
    source = "VERTEX_LAUNCHER_PROJECT or GOOGLE_CLOUD_PROJECT" if settings.project else "the credentials (ADC)"
    fields = {"project": request.project, "project_from": source, "adc_project": identity.project}
    return Check("project", "ok", f"project {request.project} (from {source})", fields)


def _region(settings: Settings) -> Check:
    endpoint = settings.api_endpoint or f"{settings.region}-aiplatform.googleapis.com"
    fields = {"region": settings.region, "api_endpoint": endpoint, "api_insecure": settings.api_insecure}
    return Check("region", "ok", f"region {settings.region}, Vertex AI API at {endpoint}", fields)


def _spec(settings: Settings, request: JobRequest) -> Check:
    fields: dict[str, Any] = {
        "job_type": request.kind,
        "parent": request.parent,
        "display_name": request.body.get("displayName"),
        "service_account": runtime_service_account(request),
    }
    if request.kind == "custom":
        job_spec = request.body.get("jobSpec", {})
        pools = job_spec.get("workerPoolSpecs") or job_spec.get("worker_pool_specs") or []
        fields["worker_pools"] = len(pools)
        fields["spec_file"] = str(settings.spec_file) if settings.spec_file else None
        what = f"a CustomJob with {len(pools)} worker pool(s)"
    else:
        fields["pipeline_template"] = settings.pipeline_template
        fields["pipeline_job_id"] = request.pipeline_job_id
        what = f"a PipelineJob from {settings.pipeline_template}"
    return Check("spec", "ok", f"{what}; the create request is valid for Vertex AI", fields)


def _permissions(
    settings: Settings,
    identity: Identity,
    request: JobRequest,
    needed: dict[str, str],
    post: Callable[[str, dict[str, Any]], Any],
) -> Check:
    project = request.project
    url = f"{settings.resource_manager_endpoint}/v1/projects/{project}:testIamPermissions"
    member = iam_member(identity.principal)
    grant = (
        f"grant the role made from {ROLE_FILE}: gcloud projects add-iam-policy-binding {project} "
        f'--member="{member}" --role="projects/{project}/roles/{ROLE_ID}" --condition=None; if that role is '
        f"granted already, it is out of date: gcloud iam roles update {ROLE_ID} --project={project} --file={ROLE_FILE}"
    )
    fields: dict[str, Any] = {"project": project, "permissions": list(needed)}
    held, problem = _test_permissions(post, url, list(needed), what=f"projects.testIamPermissions on {project}")
    if problem is not None:
        return _could_not(problem, "permissions", fields, grant)
    missing = [permission for permission in needed if permission not in held]
    if missing:
        fields |= {"missing_permissions": missing, "missing_for": {p: needed[p] for p in missing}}
        summary = f"{identity.principal or 'the principal'} lacks {', '.join(missing)} on project {project}"
        return Check("permissions", "failed", summary, fields, fix=grant)
    summary = f"{identity.principal or 'the principal'} holds the {len(needed)} permissions this run needs"
    return Check("permissions", "ok", summary, fields)


def _act_as(
    settings: Settings, identity: Identity, request: JobRequest, post: Callable[[str, dict[str, Any]], Any]
) -> Check:
    account = runtime_service_account(request)
    if account is None and request.kind == "custom":
        summary = "no runtime service account: the job runs as the Vertex AI Custom Code Service Agent (no actAs)"
        return Check("act-as", "ok", summary, {"service_account": None})
    if account is None:
        summary = (
            "no VERTEX_LAUNCHER_SERVICE_ACCOUNT: the pipeline runs as the Compute Engine default service account "
            "(PROJECT_NUMBER-compute@developer.gserviceaccount.com), and the run needs actAs on it, which doctor "
            "cannot check without the project number"
        )
        fix = "set VERTEX_LAUNCHER_SERVICE_ACCOUNT to a dedicated runtime service account and run doctor again"
        return Check("act-as", "warning", summary, {"service_account": None}, fix=fix)
    url = f"{settings.iam_endpoint}/v1/projects/-/serviceAccounts/{account}:testIamPermissions"
    fix = (
        f"grant roles/iam.serviceAccountUser on {account} (on that account only): gcloud iam service-accounts "
        f'add-iam-policy-binding {account} --member="{iam_member(identity.principal)}" '
        '--role="roles/iam.serviceAccountUser"'
    )
    fields: dict[str, Any] = {"service_account": account, "permissions": [ACT_AS]}
    held, problem = _test_permissions(post, url, [ACT_AS], what=f"serviceAccounts.testIamPermissions on {account}")
    if problem is not None:
        if problem.status == 404:
            fix = f"check that {account} exists (gcloud iam service-accounts describe {account}), then {fix}"
        return _could_not(problem, "act-as", fields, fix)
    if ACT_AS not in held:
        summary = (
            f"{identity.principal or 'the principal'} may not act as {account}: the create would fail (Vertex AI "
            "reports this as INVALID_ARGUMENT 'permission to act as', not PERMISSION_DENIED)"
        )
        return Check("act-as", "failed", summary, fields | {"missing_permissions": [ACT_AS]}, fix=fix)
    return Check("act-as", "ok", f"{identity.principal or 'the principal'} may act as {account}", fields)


def _log_writer(
    settings: Settings, identity: Identity, request: JobRequest, post: Callable[[str, dict[str, Any]], Any]
) -> Check:
    project = request.project
    url = f"{settings.resource_manager_endpoint}/v1/projects/{project}:testIamPermissions"
    fix = (
        f'gcloud projects add-iam-policy-binding {project} --member="{iam_member(identity.principal)}" '
        '--role="roles/logging.logWriter" --condition=None'
    )
    fields: dict[str, Any] = {"project": project, "permissions": [LOG_WRITE]}
    held, problem = _test_permissions(post, url, [LOG_WRITE], what=f"projects.testIamPermissions on {project}")
    if problem is not None:
        return _could_not(problem, "log-writer", fields, fix)
    if LOG_WRITE not in held:
        summary = f"LOG_SINK=cloud-logging, but {identity.principal or 'the principal'} lacks {LOG_WRITE}"
        return Check("log-writer", "failed", summary, fields | {"missing_permissions": [LOG_WRITE]}, fix=fix)
    return Check("log-writer", "ok", "LOG_SINK=cloud-logging: the principal may write log entries", fields)


def _log_reader(
    settings: Settings, identity: Identity, request: JobRequest, post: Callable[[str, dict[str, Any]], Any]
) -> Check:
    """STREAM_LOGS=true: may the principal read the job's entries? Missing is a warning: the run still works."""
    project = request.project
    url = f"{settings.resource_manager_endpoint}/v1/projects/{project}:testIamPermissions"
    fix = (
        f"grant the role made from {ROLE_FILE} (it includes {LOG_READ}; if it is granted already, update it: gcloud "
        f"iam roles update {ROLE_ID} --project={project} --file={ROLE_FILE}), or roles/logging.viewer; or turn "
        "streaming off (VERTEX_LAUNCHER_STREAM_LOGS=false)"
    )
    fields: dict[str, Any] = {"project": project, "permissions": [LOG_READ]}
    held, problem = _test_permissions(post, url, [LOG_READ], what=f"projects.testIamPermissions on {project}")
    if problem is not None:
        return _could_not(problem, "log-reader", fields, fix)
    if LOG_READ not in held:
        summary = (
            f"STREAM_LOGS=true, but {identity.principal or 'the principal'} lacks {LOG_READ}: the run works, "
            "without the job's log lines on stdout"
        )
        return Check("log-reader", "warning", summary, fields | {"missing_permissions": [LOG_READ]}, fix=fix)
    return Check("log-reader", "ok", "STREAM_LOGS=true: the principal may read the job's log entries", fields)


# --- HTTP ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """A testIamPermissions call that did not answer: HTTP status (None: no answer), Google's status and text."""

    what: str
    status: int | None
    code: str
    message: str

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def _authorized_post(identity: Identity) -> Callable[[str, dict[str, Any]], Any]:
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(identity.credentials)  # type: ignore[no-untyped-call]

    def post(url: str, body: dict[str, Any]) -> Any:
        return session.post(url, json=body, timeout=HTTP_TIMEOUT_SECONDS)

    return post


def _test_permissions(
    post: Callable[[str, dict[str, Any]], Any], url: str, permissions: list[str], *, what: str
) -> tuple[set[str], _Problem | None]:
    """(held permissions, None), or (empty, the problem) when the call did not answer 200."""
    import requests
    from google.auth import exceptions as auth_exceptions

    try:
        response = post(url, {"permissions": permissions})
    except (requests.RequestException, auth_exceptions.TransportError) as exc:
        return set(), _Problem(what, None, "UNAVAILABLE", redact(f"{type(exc).__name__}: {exc}")[:400])
    except auth_exceptions.GoogleAuthError as exc:
        return set(), _Problem(what, 401, "UNAUTHENTICATED", redact(f"refreshing the access token failed: {exc}")[:400])
    if response.status_code != 200:
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        error = error if isinstance(error, dict) else {}
        code = str(error.get("status") or f"HTTP {response.status_code}")
        message = str(error.get("message") or response.text or response.reason)
        return set(), _Problem(what, response.status_code, code, redact(" ".join(message.split()))[:400])
    try:
        held = response.json().get("permissions", [])
    except ValueError:
        held = []
    return {str(permission) for permission in held}, None


def _could_not(problem: _Problem, name: str, fields: dict[str, Any], fix: str) -> Check:
    summary = f"{problem.what} answered {problem.code}: {problem.message}"
    fields = fields | {"error": {"code": problem.code, "http_status": problem.status, "message": problem.message}}
    if problem.transient:
        fix = "the API could not be reached or answered an error that can pass: run doctor again later"
        return Check(name, "error", summary, fields, fix=fix)
    if problem.status == 403 and "disabled" in problem.message.lower():
        fix = f"enable the API named in the message (gcloud services enable …) in the principal's project; {fix}"
    return Check(name, "failed", summary, fields, fix=fix)


# --- report --------------------------------------------------------------------------------------------------------


def _report(check: Check) -> None:
    emit = {"ok": log.info, "warning": log.warning, "failed": log.error, "error": log.error}[check.status]
    extra = {"fix": check.fix} if check.fix else {}
    emit("doctor check", check=check.name, status=check.status, summary=check.summary, **check.fields, **extra)


def _result(
    checks: list[Check], identity: Identity, request: JobRequest, settings: Settings, needed: dict[str, str]
) -> RunResult:
    bad = [check for check in checks if check.status in ("failed", "error")]
    details: dict[str, Any] = {
        "command": "doctor",
        "checks": {check.name: check.status for check in checks},
        "credential_source": identity.source,
        "principal": identity.principal,
        "project": request.project,
        "region": settings.region,
        "permissions": list(needed),
    }
    if not bad:
        return RunResult(outcome=Outcome.SUCCEEDED, exit_code=ExitCode.OK, details=details)
    failed = [check for check in bad if check.status == "failed"]
    exit_code = ExitCode.AUTH if failed else ExitCode.TRANSIENT
    missing = [p for check in failed for p in check.fields.get("missing_permissions", [])]
    if missing:
        details["missing_permissions"] = missing
    message = "; ".join(f"{check.name}: {check.summary}; fix: {check.fix}" for check in bad)
    code = "PERMISSION_DENIED" if failed else "UNAVAILABLE"
    details["error"] = {"code": code, "message": message}
    return RunResult(outcome=Outcome.ERROR, exit_code=exit_code, details=details)
