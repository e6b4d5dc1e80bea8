"""Least privilege, proven: the real launcher process with real google-auth (credentials from a metadata server it
has never seen) against the emulator enforcing IAM per principal, like Vertex AI.

- The role in deploy/iam/vertex-launcher-role.yaml (plus actAs on the runtime service account) is enough for every
  mode, and a run only ever uses permissions that ``doctor.required_permissions`` predicts for its mode.
- Without any one permission of the role, a run fails at the predicted step with exit 3 naming the permission.
- Without actAs, Vertex's INVALID_ARGUMENT gets a message that says what it means.
- ``doctor`` tells all of that before a run: source, principal, project, region, permissions, and each fix.

Every case is one launcher process with its own principal (metadata server → access token → emulator principal).
The module fixture ``ran`` runs the cases of the selected tests in parallel threads against one private emulator,
then each test reads its case's output and the emulator's request log (filtered by the case's principal).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from google.oauth2.credentials import Credentials as UserCredentials
from structlog.testing import capture_logs

from tests.emulator.jobs import custom_job, pipeline_job, pipeline_spec
from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_google import FakeMetadataServer, FakeServer, Recorded, Reply, json_reply
from tests.launcher import Finished, launcher_env, run
from vertex_launcher.auth import Identity
from vertex_launcher.doctor import required_permissions, run_doctor
from vertex_launcher.jobs import JobRequest
from vertex_launcher.result import RunResult
from vertex_launcher.settings import Settings

ROLE_FILE = Path(__file__).resolve().parent.parent / "deploy" / "iam" / "vertex-launcher-role.yaml"
#: The role's job permissions (its optional logging.logEntries.list serves only STREAM_LOGS, tested on its own).
ROLE: list[str] = [
    permission
    for permission in yaml.safe_load(ROLE_FILE.read_text(encoding="utf-8"))["includedPermissions"]
    if permission.startswith("aiplatform.")
]
ACT_AS = "iam.serviceAccounts.actAs"
RUNTIME_SA = "vertex-job@demo.iam.gserviceaccount.com"
ACT_AS_RUNTIME_SA = f"{ACT_AS}:{RUNTIME_SA}"  # the emulator's form of roles/iam.serviceAccountUser on that account
PARENT = "projects/demo/locations/us-central1"
ADMIN = {"email": "admin@demo.iam.gserviceaccount.com", "token": f"admin-{secrets.token_hex(8)}"}
PARALLEL_RUNS = 4


@dataclass(frozen=True)
class Mode:
    """How a run is configured: job type, WAIT, CONCURRENCY_POLICY, and whether an earlier run is still active."""

    kind: str = "custom"
    wait: bool = True
    concurrency: str = "Forbid"
    earlier_run_active: bool = False

    @property
    def noun(self) -> str:
        """The permission's collection."""
        return "customJobs" if self.kind == "custom" else "pipelineJobs"


@dataclass(frozen=True)
class Case:
    """One launcher process: its mode, the permissions its principal holds, the command and extra settings."""

    name: str
    mode: Mode
    permissions: tuple[str, ...]
    command: str = "run"
    settings: tuple[tuple[str, str | None], ...] = ()

    @property
    def slug(self) -> str:
        """The case name as a label value / email local part."""
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")[:50]

    @property
    def email(self) -> str:
        """The principal the case's metadata server names."""
        return f"{self.slug}@demo.iam.gserviceaccount.com"

    def env_settings(self) -> dict[str, str | None]:
        """The VERTEX_LAUNCHER_* settings of this case (without the endpoints and identity)."""
        mode = self.mode
        what = {"image_uri": "us-docker.pkg.dev/demo/r/train:1"} if mode.kind == "custom" else {"image_uri": None}
        return {
            "job_type": mode.kind,
            "wait": "true" if mode.wait else "false",
            "concurrency_policy": mode.concurrency,
            "schedule_name": self.slug,
            "run_key": f"run-{self.slug}",
            "service_account": RUNTIME_SA,
            **what,
            **dict(self.settings),
        }

    def parsed_settings(self) -> Settings:
        """The Settings the launcher reads for this case (what ``required_permissions`` looks at)."""
        values: dict[str, Any] = {k: v for k, v in self.env_settings().items() if v is not None}
        if self.mode.kind == "pipeline":
            values["pipeline_template"] = "pipeline.json"
        return Settings(region="us-central1", **values)


@dataclass
class Ran:
    """What one case's launcher printed and what the emulator saw from its principal."""

    finished: Finished
    calls: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    #: Every access token issued to any case (none may appear in any output).
    tokens: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        """The API methods the run called, in order, as ``verb`` (``list``, ``create``…)."""
        return [verb_of(call["method"]) for call in self.calls]

    def reports(self) -> dict[str, dict[str, Any]]:
        """doctor's records by check name."""
        return {r["check"]: r for r in self.finished.records if r["message"] == "doctor check"}


def verb_of(method: str) -> str:
    """``GetCustomJob`` → ``get``."""
    return re.sub(r"(Custom|Pipeline)Jobs?$", "", method).lower()


def permission_of(method: str) -> str:
    """``ListPipelineJobs`` → ``aiplatform.pipelineJobs.list``."""
    noun = "customJobs" if "Custom" in method else "pipelineJobs"
    return f"aiplatform.{noun}.{verb_of(method)}"


def role_without(permission: str) -> tuple[str, ...]:
    """The documented role minus one permission, plus actAs on the runtime service account."""
    return (*[p for p in ROLE if p != permission], ACT_AS_RUNTIME_SA)


FULL = (*ROLE, ACT_AS_RUNTIME_SA)

POLICIES = ("Allow", "Forbid", "Replace")
#: custom/pipeline × WAIT true/false × every concurrency policy (Replace with an earlier run still active).
MODES = [
    Mode(kind, wait, policy, earlier_run_active=policy == "Replace")
    for kind in ("custom", "pipeline")
    for wait in (True, False)
    for policy in POLICIES
]
SUFFICIENT = [Case(f"{m.kind}-{'wait' if m.wait else 'nowait'}-{m.concurrency.lower()}", m, FULL) for m in MODES]

#: Removing one permission (by verb): the mode that needs it, and the calls a run makes before the denied one.
PREDICTED: dict[str, tuple[Mode, list[str]]] = {
    "list": (Mode(), []),  # reattach: the first call of every run
    "create": (Mode(), ["list", "list"]),  # after reattach and the Forbid check
    "get": (Mode(), ["list", "list", "create"]),  # WAIT=true: the first look at the new job
    "cancel": (Mode(concurrency="Replace", earlier_run_active=True), ["list", "list"]),  # Replace: the earlier run
}


def removal(permission: str) -> Case:
    """The case that runs without ``permission``, in the mode that needs it."""
    mode, _ = PREDICTED[permission.rsplit(".", 1)[1]]
    kind = "custom" if ".customJobs." in permission else "pipeline"
    return Case(f"without-{permission}", replace(mode, kind=kind), role_without(permission))


REMOVED = [removal(permission) for permission in ROLE]
NO_ACT_AS = [Case(f"no-actas-{kind}", Mode(kind), tuple(ROLE)) for kind in ("custom", "pipeline")]

DOCTOR_OK = Case("doctor-ok", Mode(), FULL, command="doctor")
DOCTOR_OK_LEAST = Case(
    "doctor-ok-pipeline-least-privilege-adc-project",
    Mode("pipeline", wait=False, concurrency="Allow"),
    (
        "aiplatform.pipelineJobs.list",
        "aiplatform.pipelineJobs.create",
        "aiplatform.pipelineJobs.get",
        ACT_AS_RUNTIME_SA,
    ),
    command="doctor",
    settings=(("project", None), ("on_terminate", "detach")),
)
DOCTOR_WITHOUT_GET = Case("doctor-without-get", Mode(), role_without("aiplatform.customJobs.get"), command="doctor")
DOCTOR_NO_ACT_AS = Case("doctor-no-actas", Mode(), tuple(ROLE), command="doctor")


# --- running the cases ---------------------------------------------------------------------------------------------


class FixedTokenMetadataServer(FakeMetadataServer):
    """The fake GKE metadata server issuing one known access token, which the emulator maps to the case's principal."""

    def __init__(self, token: str, *, email: str) -> None:
        super().__init__(email=email, project_id="demo-project")
        self.token = token

    def new_token(self, what: str = "access") -> str:
        """Always the same token (and remembered in ``issued``)."""
        self.issued.append(self.token)
        return self.token


def selected_cases(request: pytest.FixtureRequest) -> list[Case]:
    """The cases the selected tests of this module are parametrized with."""
    cases: dict[str, Case] = {}
    for item in request.session.items:
        params = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and params is not None:
            cases |= {value.name: value for value in params.params.values() if isinstance(value, Case)}
    return list(cases.values())


def start_earlier_run(emulator: Emulator, case: Case) -> None:
    """A long-running job of the case's schedule, made by another run (what Replace must cancel first)."""
    labels = {
        "vertex-launcher-schedule": case.slug,
        "vertex-launcher-run": f"earlier-{case.slug}",
        "emulator-run-seconds": "600",
    }
    if case.mode.kind == "custom":
        client = emulator.job_client("grpc", token=ADMIN["token"])
        client.create_custom_job(parent=PARENT, custom_job=custom_job(labels=labels))
    else:
        client = emulator.pipeline_client("grpc", token=ADMIN["token"])
        client.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(labels=labels))


@pytest.fixture(name="ran", scope="module")
def _ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ran]]:
    """Every selected case, run in parallel threads (one launcher process each) against one private emulator."""
    cases = selected_cases(request)
    workdir = tmp_path_factory.mktemp("permissions")
    template = workdir / "pipeline.json"
    template.write_text(json.dumps(pipeline_spec("prepare", "train")), encoding="utf-8")
    emulator = Emulator(workdir=workdir / "emulator")
    servers: dict[str, FixedTokenMetadataServer] = {}
    try:
        emulator.start()
        emulator.configure(time_scale=10.0, queued_seconds=1, pending_seconds=1, run_seconds=5, cancel_seconds=1)
        for case in cases:
            token = f"fake-metadata-access-{case.slug}-{secrets.token_hex(8)}"
            servers[case.name] = FixedTokenMetadataServer(token, email=case.email).start()
        principals = [
            {"email": case.email, "token": servers[case.name].token, "permissions": list(case.permissions)}
            for case in cases
        ]
        emulator.set_principals([{**ADMIN, "permissions": [*ROLE, ACT_AS]}, *principals])
        for case in cases:
            if case.mode.earlier_run_active:
                start_earlier_run(emulator, case)

        def launch(case: Case) -> Finished:
            mds = servers[case.name]
            home = workdir / case.slug
            home.mkdir()
            settings: dict[str, str | None] = {
                "credentials": None,
                "GCE_METADATA_HOST": mds.host,
                "GCE_METADATA_IP": mds.host,
                "resource_manager_endpoint": emulator.rest,
                "iam_endpoint": emulator.rest,
                **({"pipeline_template": str(template)} if case.mode.kind == "pipeline" else {}),
                **case.env_settings(),
            }
            return run(launcher_env(emulator, home, **settings), case.command)

        with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
            finished = dict(zip([case.name for case in cases], pool.map(launch, cases), strict=True))
        calls, jobs = emulator.requests(), emulator.jobs()
        tokens = [server.token for server in servers.values()]
        yield {
            case.name: Ran(
                finished[case.name],
                calls=[call for call in calls if call["principal"] == case.email],
                jobs=[job for job in jobs if job["labels"].get("vertex-launcher-schedule") == case.slug],
                tokens=tokens,
            )
            for case in cases
        }
    finally:
        for server in servers.values():
            server.stop()
        emulator.stop()


def outcome(ran: dict[str, Ran], case: Case) -> Ran:
    """The case's run, after checking that no access token of any case appears in what it printed."""
    done = ran[case.name]
    output = done.finished.stdout + done.finished.stderr
    assert [token for token in done.tokens if token in output] == []
    return done


def names(cases: list[Case]) -> list[str]:
    """Test ids."""
    return [case.name for case in cases]


# --- the matrix and the role -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("job_type", ["custom", "pipeline"])
def test_the_role_holds_every_permission_any_mode_needs_and_nothing_else(
    job_type: Literal["custom", "pipeline"],
) -> None:
    """Over every WAIT × CONCURRENCY_POLICY × ON_TERMINATE, the needed permissions are in the role, and together
    they are exactly the role's permissions of that job type."""
    what = {"image_uri": "img"} if job_type == "custom" else {"pipeline_template": "pipeline.json"}
    needed: set[str] = set()
    for wait, policy, on_terminate in itertools.product((True, False), POLICIES, ("cancel", "detach")):
        values: dict[str, Any] = {"wait": wait, "concurrency_policy": policy, "on_terminate": on_terminate, **what}
        permissions = required_permissions(Settings(region="us-central1", job_type=job_type, **values))
        assert set(permissions) <= set(ROLE)
        assert all(permissions.values())
        needed |= set(permissions)
    noun = "customJobs" if job_type == "custom" else "pipelineJobs"
    assert needed == {p for p in ROLE if f".{noun}." in p}


def test_the_least_privileged_mode_needs_only_list_and_create() -> None:
    """A custom job, WAIT=false, Allow, ON_TERMINATE=detach: nothing is watched or cancelled."""
    settings = Settings(
        region="us-central1", image_uri="img", wait=False, concurrency_policy="Allow", on_terminate="detach"
    )
    assert list(required_permissions(settings)) == ["aiplatform.customJobs.list", "aiplatform.customJobs.create"]


# --- runs --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SUFFICIENT, ids=names(SUFFICIENT))
def test_the_documented_role_is_enough_for_every_mode(ran: dict[str, Ran], case: Case) -> None:
    """The role plus actAs on the runtime service account: exit 0, no call refused, and every call the run made
    uses a permission ``required_permissions`` predicts for the mode."""
    done = outcome(ran, case)
    assert done.finished.exit_code == 0, done.finished.stdout[-3000:]
    assert done.finished.result["outcome"] == ("succeeded" if case.mode.wait else "submitted")
    assert {call["code"] for call in done.calls} == {"OK"}
    needed = required_permissions(case.parsed_settings())
    assert {permission_of(call["method"]) for call in done.calls} <= set(needed) <= set(ROLE)
    if case.mode.earlier_run_active:
        [earlier] = [job for job in done.jobs if job["labels"]["vertex-launcher-run"].startswith("earlier-")]
        assert earlier["state"].endswith(("CANCELLING", "CANCELLED"))
        assert done.methods.index("cancel") < done.methods.index("create")


@pytest.mark.parametrize("case", REMOVED, ids=names(REMOVED))
def test_without_any_one_permission_of_the_role_the_run_fails_at_the_predicted_step(
    ran: dict[str, Ran], case: Case
) -> None:
    """Exit 3 with Vertex's message naming the permission, after exactly the calls that come before the step."""
    [missing] = sorted(set(ROLE) - set(case.permissions))
    verb = missing.rsplit(".", 1)[1]
    _, before = PREDICTED[verb]
    assert missing in required_permissions(case.parsed_settings())
    done = outcome(ran, case)
    assert done.finished.exit_code == 3, done.finished.stdout[-3000:]
    error = done.finished.result["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert f"Permission '{missing}' denied" in error["message"]
    assert done.methods == [*before, verb]
    assert [call["code"] for call in done.calls] == ["OK"] * len(before) + ["PERMISSION_DENIED"]
    made = [job for job in done.jobs if job["labels"]["vertex-launcher-run"] == f"run-{case.slug}"]
    assert len(made) == (1 if verb == "get" else 0)


@pytest.mark.parametrize("case", NO_ACT_AS, ids=names(NO_ACT_AS))
def test_without_act_as_the_message_explains_vertexs_invalid_argument(ran: dict[str, Ran], case: Case) -> None:
    """No actAs on the runtime service account: Vertex answers INVALID_ARGUMENT; exit 3 and a message that says
    what it means and what to grant. Nothing is created."""
    done = outcome(ran, case)
    assert done.finished.exit_code == 3, done.finished.stdout[-3000:]
    error = done.finished.result["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    for part in ("iam.serviceAccounts.actAs", "roles/iam.serviceAccountUser", RUNTIME_SA):
        assert part in error["message"]
    assert done.methods == ["list", "list", "create"]
    assert done.jobs == []


# --- doctor --------------------------------------------------------------------------------------------------------

DOCTOR_PASSES = [DOCTOR_OK, DOCTOR_OK_LEAST]
CHECKS = ["identity", "token-fetch", "project", "region", "spec", "permissions", "act-as"]


@pytest.mark.parametrize("case", DOCTOR_PASSES, ids=names(DOCTOR_PASSES))
def test_doctor_reports_source_principal_project_region_and_permissions_and_exits_0(
    ran: dict[str, Ran], case: Case
) -> None:
    """All good: one record per check, all ok, naming what a run would use; exit 0; no job call is made."""
    done = outcome(ran, case)
    assert done.finished.exit_code == 0, done.finished.stdout[-3000:]
    reports = done.reports()
    assert list(reports) == CHECKS
    assert {report["status"] for report in reports.values()} == {"ok"}
    assert (reports["identity"]["credential_source"], reports["identity"]["principal"]) == ("gce_metadata", case.email)
    project = "demo-project" if ("project", None) in case.settings else "demo"
    assert reports["project"]["project"] == project
    assert reports["region"]["region"] == "us-central1"
    assert reports["permissions"]["permissions"] == list(required_permissions(case.parsed_settings()))
    assert reports["act-as"]["service_account"] == RUNTIME_SA
    result = done.finished.result
    assert (result["message"], result["command"], result["outcome"], result["exit_code"]) == (
        "run finished",
        "doctor",
        "succeeded",
        0,
    )
    assert (result["principal"], result["project"], result["region"]) == (case.email, project, "us-central1")
    assert [call["method"] for call in done.calls] == ["TestIamPermissions", "TestIamPermissions"]


@pytest.mark.parametrize("case", [DOCTOR_WITHOUT_GET], ids=names([DOCTOR_WITHOUT_GET]))
def test_doctor_names_a_missing_permission_and_the_grant_that_fixes_it(ran: dict[str, Ran], case: Case) -> None:
    """One permission of the role missing: exit 3; the report names it, the step that needs it, and the gcloud fix."""
    done = outcome(ran, case)
    assert done.finished.exit_code == 3
    report = done.reports()["permissions"]
    assert (report["status"], report["missing_permissions"]) == ("failed", ["aiplatform.customJobs.get"])
    assert "watch" in report["missing_for"]["aiplatform.customJobs.get"]
    for part in (
        f'gcloud projects add-iam-policy-binding demo --member="serviceAccount:{case.email}"',
        '--role="projects/demo/roles/vertexLauncher"',
        "gcloud iam roles update vertexLauncher --project=demo --file=deploy/iam/vertex-launcher-role.yaml",
    ):
        assert part in report["fix"]
    assert done.reports()["act-as"]["status"] == "ok"
    result = done.finished.result
    assert (result["outcome"], result["missing_permissions"]) == ("error", ["aiplatform.customJobs.get"])
    assert "aiplatform.customJobs.get" in result["error"]["message"]


@pytest.mark.parametrize("case", [DOCTOR_NO_ACT_AS], ids=names([DOCTOR_NO_ACT_AS]))
def test_doctor_without_act_as_names_service_account_user_on_the_runtime_service_account(
    ran: dict[str, Ran], case: Case
) -> None:
    """actAs missing: exit 3; the report explains Vertex's INVALID_ARGUMENT and names the grant on that account."""
    done = outcome(ran, case)
    assert done.finished.exit_code == 3
    report = done.reports()["act-as"]
    assert report["status"] == "failed"
    assert "INVALID_ARGUMENT" in report["summary"]
    assert (
        f'gcloud iam service-accounts add-iam-policy-binding {RUNTIME_SA} --member="serviceAccount:{case.email}" '
        '--role="roles/iam.serviceAccountUser"'
    ) in report["fix"]
    assert done.reports()["permissions"]["status"] == "ok"
    assert done.finished.result["missing_permissions"] == [ACT_AS]


# --- doctor when the IAM APIs answer errors (run_doctor in-process, real AuthorizedSession, a local fake) ----------


class FakeIamApis(FakeServer):
    """Resource Manager and IAM testIamPermissions: every permission held, unless ``errors`` (path part → (HTTP
    status, Google status, message)) or ``denied`` say otherwise."""

    kind = "iam-apis"

    def __init__(self, *, errors: dict[str, tuple[int, str, str]] | None = None, denied: set[str] | None = None):
        super().__init__()
        self.errors = errors or {}
        self.denied = denied or set()

    def handle(self, request: Recorded) -> Reply:
        """Answer one testIamPermissions call."""
        for part, (status, code, message) in self.errors.items():
            if part in request.path:
                return json_reply(status, {"error": {"code": status, "status": code, "message": message}})
        held = [p for p in request.json()["permissions"] if p not in self.denied]
        return json_reply(200, {"permissions": held} if held else {})


@pytest.fixture(name="iam_apis")
def _iam_apis() -> Iterator[Callable[..., FakeIamApis]]:
    started: list[FakeIamApis] = []

    def start(**kwargs: Any) -> FakeIamApis:
        started.append(FakeIamApis(**kwargs).start())
        return started[-1]

    yield start
    for fake in started:
        fake.stop()


def doctor_in_process(
    url: str,
    *,
    kind: Literal["custom", "pipeline"] = "custom",
    service_account: str | None = RUNTIME_SA,
    **settings: Any,
) -> tuple[RunResult, dict[str, dict[str, Any]]]:
    """run_doctor with a fixed-token identity against the APIs at ``url``; the result and the records by check."""
    what: dict[str, Any] = {"image_uri": "img"} if kind == "custom" else {"pipeline_template": "pipeline.json"}
    parsed = Settings(
        region="us-central1",
        job_type=kind,
        resource_manager_endpoint=url,
        iam_endpoint=url,
        **what,
        **settings,
    )
    sa = {"serviceAccount": service_account} if service_account else {}
    body = {"jobSpec": {"workerPoolSpecs": [{}], **sa}} if kind == "custom" else {"pipelineSpec": {}, **sa}
    request = JobRequest(kind=kind, parent=PARENT, body=body, run_label="r", schedule_label="s")
    credentials = UserCredentials(f"fixed-{secrets.token_hex(8)}")  # type: ignore[no-untyped-call]
    identity = Identity(
        credentials=credentials, source="gce_metadata", principal="vl@demo.iam.gserviceaccount.com", project="demo"
    )
    with capture_logs() as records:
        result = run_doctor(settings=parsed, identity=identity, request=request)
    return result, {r["check"]: dict(r) for r in records if r["event"] == "doctor check"}


def test_doctor_says_when_an_iam_api_is_disabled(iam_apis: Callable[..., FakeIamApis]) -> None:
    """Resource Manager answers 403 SERVICE_DISABLED: the permissions check fails and names the API to enable."""
    message = "Cloud Resource Manager API has not been used in project 123 before or it is disabled."
    fake = iam_apis(errors={":testIamPermissions": (403, "PERMISSION_DENIED", message)})
    result, checks = doctor_in_process(fake.url, service_account=None)
    assert result.exit_code == 3
    assert checks["permissions"]["status"] == "failed"
    assert "gcloud services enable" in checks["permissions"]["fix"]
    assert message in checks["permissions"]["summary"]


def test_doctor_says_when_the_runtime_service_account_does_not_exist(iam_apis: Callable[..., FakeIamApis]) -> None:
    """IAM answers 404 for the runtime service account: act-as fails and says to check that it exists."""
    fake = iam_apis(errors={"/serviceAccounts/": (404, "NOT_FOUND", f"Unknown service account {RUNTIME_SA}")})
    result, checks = doctor_in_process(fake.url)
    assert (result.exit_code, checks["act-as"]["status"]) == (3, "failed")
    assert f"gcloud iam service-accounts describe {RUNTIME_SA}" in checks["act-as"]["fix"]


def test_doctor_that_cannot_reach_the_apis_exits_5(iam_apis: Callable[..., FakeIamApis]) -> None:
    """No answer (connection refused): the checks are `error`, not `failed`, and the exit code is 5 (try again)."""
    fake = iam_apis()
    url = fake.url
    fake.stop()
    result, checks = doctor_in_process(url)
    assert (checks["permissions"]["status"], checks["act-as"]["status"]) == ("error", "error")
    assert (result.exit_code, result.details["error"]["code"]) == (5, "UNAVAILABLE")


def test_doctor_warns_about_a_pipeline_without_a_runtime_service_account(iam_apis: Callable[..., FakeIamApis]) -> None:
    """A PipelineJob without SERVICE_ACCOUNT runs as the Compute Engine default SA: a warning, still exit 0."""
    result, checks = doctor_in_process(iam_apis().url, kind="pipeline", service_account=None)
    assert (result.exit_code, checks["act-as"]["status"]) == (0, "warning")
    assert "VERTEX_LAUNCHER_SERVICE_ACCOUNT" in checks["act-as"]["fix"]


def test_doctor_checks_the_log_writer_grant_for_the_cloud_logging_sink(iam_apis: Callable[..., FakeIamApis]) -> None:
    """LOG_SINK=cloud-logging without logging.logEntries.create: the fix is roles/logging.logWriter."""
    result, checks = doctor_in_process(iam_apis(denied={"logging.logEntries.create"}).url, log_sink="cloud-logging")
    assert (result.exit_code, checks["log-writer"]["status"]) == (3, "failed")
    assert '--role="roles/logging.logWriter"' in checks["log-writer"]["fix"]
    assert checks["permissions"]["status"] == "ok"


def test_doctor_warns_when_streaming_is_on_but_the_log_read_permission_is_missing(
    iam_apis: Callable[..., FakeIamApis],
) -> None:
    """STREAM_LOGS=true without logging.logEntries.list: a warning naming it (the run still works), exit 0."""
    result, checks = doctor_in_process(iam_apis(denied={"logging.logEntries.list"}).url, stream_logs=True)
    assert (result.exit_code, checks["log-reader"]["status"]) == (0, "warning")
    assert checks["log-reader"]["missing_permissions"] == ["logging.logEntries.list"]
    assert "deploy/iam/vertex-launcher-role.yaml" in checks["log-reader"]["fix"]


def test_doctor_checks_the_log_read_permission_only_when_streaming(iam_apis: Callable[..., FakeIamApis]) -> None:
    """The log-reader check exists with STREAM_LOGS=true (ok when granted) and not without it."""
    fake = iam_apis()
    streaming, checks = doctor_in_process(fake.url, stream_logs=True)
    assert (streaming.exit_code, checks["log-reader"]["status"]) == (0, "ok")
    _, without = doctor_in_process(fake.url)
    assert "log-reader" not in without
