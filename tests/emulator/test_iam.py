"""IAM like Vertex: per-method permissions, actAs on the runtime service account, tokens, testIamPermissions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from google.api_core import exceptions

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator

RUNNER = "runner@demo-project.iam.gserviceaccount.com"
JOB_SA = "job@demo-project.iam.gserviceaccount.com"
TOKEN = "token-of-runner"
ALL = [
    f"aiplatform.{collection}.{verb}"
    for collection in ("customJobs", "pipelineJobs")
    for verb in ("create", "get", "list", "cancel")
]


def grant(emulator: Emulator, permissions: list[str]) -> None:
    """One principal (RUNNER, bearer TOKEN) holding exactly ``permissions``."""
    emulator.set_principals([{"email": RUNNER, "token": TOKEN, "permissions": permissions}])


def every_call(emulator: Emulator, transport: str) -> dict[str, Any]:
    """Each of the eight methods as a zero-argument call, against jobs made beforehand with full rights."""
    grant(emulator, [*ALL, "iam.serviceAccounts.actAs"])
    jobs = emulator.job_client(transport, token=TOKEN)
    pipelines = emulator.pipeline_client(transport, token=TOKEN)
    custom = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    pipeline = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
    sa_spec = custom_job(service_account=JOB_SA)
    return {
        "aiplatform.customJobs.create": lambda: jobs.create_custom_job(parent=PARENT, custom_job=sa_spec),
        "aiplatform.customJobs.get": lambda: jobs.get_custom_job(name=custom.name),
        "aiplatform.customJobs.list": lambda: list(jobs.list_custom_jobs(request={"parent": PARENT})),
        "aiplatform.customJobs.cancel": lambda: jobs.cancel_custom_job(name=custom.name),
        "aiplatform.pipelineJobs.create": lambda: pipelines.create_pipeline_job(
            parent=PARENT, pipeline_job=pipeline_job(service_account=JOB_SA)
        ),
        "aiplatform.pipelineJobs.get": lambda: pipelines.get_pipeline_job(name=pipeline.name),
        "aiplatform.pipelineJobs.list": lambda: list(pipelines.list_pipeline_jobs(request={"parent": PARENT})),
        "aiplatform.pipelineJobs.cancel": lambda: pipelines.cancel_pipeline_job(name=pipeline.name),
    }


def test_a_principal_with_every_permission_can_use_every_method(emulator: Emulator, transport: str) -> None:
    """The full permission set (plus actAs) allows all eight calls; the log names the principal."""
    emulator.configure(queued_seconds=1e9)
    for call in every_call(emulator, transport).values():
        call()
    assert {entry["principal"] for entry in emulator.requests()} == {RUNNER}


@pytest.mark.parametrize("missing", ALL)
def test_removing_one_permission_denies_exactly_that_method(emulator: Emulator, transport: str, missing: str) -> None:
    """PERMISSION_DENIED (403 over REST) worded like Vertex, with an ErrorInfo naming the permission."""
    emulator.configure(queued_seconds=1e9)
    calls = every_call(emulator, transport)
    grant(emulator, [p for p in ALL if p != missing] + ["iam.serviceAccounts.actAs"])
    with pytest.raises(exceptions.Forbidden) as caught:
        calls[missing]()
    message = caught.value.message
    assert f"Permission '{missing}' denied on resource '//aiplatform.googleapis.com/projects/" in message
    assert message.endswith("(or it may not exist).")
    reasons = [d.reason if hasattr(d, "reason") else d.get("reason") for d in caught.value.details]
    assert "IAM_PERMISSION_DENIED" in reasons
    for permission, call in calls.items():
        if permission != missing:
            call()


@pytest.mark.parametrize("kind", ["custom", "pipeline"])
def test_missing_act_as_on_the_runtime_service_account_is_invalid_argument(
    emulator: Emulator, transport: str, kind: str
) -> None:
    """Vertex's quirk: no iam.serviceAccounts.actAs answers INVALID_ARGUMENT (400), not PERMISSION_DENIED."""
    grant(emulator, [*ALL, "iam.serviceAccounts.actAs:someone-else@demo-project.iam.gserviceaccount.com"])

    def create() -> Any:
        if kind == "custom":
            client = emulator.job_client(transport, token=TOKEN)
            return client.create_custom_job(parent=PARENT, custom_job=custom_job(service_account=JOB_SA))
        client = emulator.pipeline_client(transport, token=TOKEN)
        return client.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(service_account=JOB_SA))

    with pytest.raises(exceptions.BadRequest, match=f"permission to act as service_account: {JOB_SA}"):
        create()
    assert emulator.jobs() == []


def test_act_as_can_be_granted_on_one_service_account(emulator: Emulator) -> None:
    """iam.serviceAccounts.actAs:EMAIL allows exactly that runtime service account."""
    grant(emulator, [*ALL, f"iam.serviceAccounts.actAs:{JOB_SA}"])
    jobs = emulator.job_client("grpc", token=TOKEN)
    jobs.create_custom_job(parent=PARENT, custom_job=custom_job(service_account=JOB_SA))
    with pytest.raises(exceptions.InvalidArgument):
        jobs.create_custom_job(parent=PARENT, custom_job=custom_job(service_account="other@x.iam.gserviceaccount.com"))


@pytest.mark.parametrize("token", [None, "unknown-token"])
def test_a_missing_or_unknown_token_is_unauthenticated(emulator: Emulator, token: str | None) -> None:
    """With principals configured, calls without a known bearer token answer UNAUTHENTICATED."""
    grant(emulator, ALL)
    with pytest.raises(exceptions.Unauthenticated):
        list(emulator.job_client("grpc", token=token).list_custom_jobs(request={"parent": PARENT}))
    status, body = raw(emulator, "GET", f"/v1/{PARENT}/customJobs", token)
    assert (status, body["error"]["status"]) == (401, "UNAUTHENTICATED")


def test_require_auth_without_principals_only_demands_a_token(emulator: Emulator) -> None:
    """--require-auth: any bearer token passes, none is UNAUTHENTICATED."""
    emulator.configure(require_auth=True)
    with pytest.raises(exceptions.Unauthenticated, match="missing required authentication credential"):
        list(emulator.job_client("grpc").list_custom_jobs(request={"parent": PARENT}))
    assert list(emulator.job_client("grpc", token="anything").list_custom_jobs(request={"parent": PARENT})) == []
    assert raw(emulator, "GET", f"/v1/{PARENT}/customJobs", None)[0] == 401
    assert raw(emulator, "GET", f"/v1/{PARENT}/customJobs", "anything") == (200, {})


def raw(emulator: Emulator, verb: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    """One HTTP request with an optional bearer token; (status, JSON). (The GAPIC REST client would try to
    refresh its credentials on a 401 instead of showing it.)"""
    request = urllib.request.Request(  # noqa: S310
        f"{emulator.rest}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=verb,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def check_permissions(emulator: Emulator, path: str, token: str | None, permissions: list[str]) -> Any:
    """POST testIamPermissions; (status, JSON)."""
    return raw(emulator, "POST", path, token, {"permissions": permissions})


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_test_iam_permissions_answers_the_subset_the_caller_holds(emulator: Emulator, version: str) -> None:
    """Resource Manager projects.testIamPermissions, for `doctor`: only held permissions come back."""
    grant(emulator, ["aiplatform.customJobs.create", "aiplatform.customJobs.get", "iam.serviceAccounts.actAs"])
    asked = ["aiplatform.customJobs.create", "aiplatform.customJobs.list", "iam.serviceAccounts.actAs"]
    path = f"/{version}/projects/demo-project:testIamPermissions"
    status, body = check_permissions(emulator, path, TOKEN, asked)
    assert (status, body) == (200, {"permissions": ["aiplatform.customJobs.create", "iam.serviceAccounts.actAs"]})
    assert check_permissions(emulator, path, TOKEN, ["aiplatform.customJobs.list"]) == (200, {})
    assert check_permissions(emulator, path, "bad", asked)[0] == 401
    assert emulator.requests("TestIamPermissions")[0]["principal"] == RUNNER


def test_without_principals_test_iam_permissions_grants_everything(emulator: Emulator) -> None:
    """IAM off: every caller holds every permission it asks about."""
    asked = ["aiplatform.pipelineJobs.create", "iam.serviceAccounts.actAs"]
    path = "/v1/projects/demo-project:testIamPermissions"
    assert check_permissions(emulator, path, None, asked) == (200, {"permissions": asked})


def test_service_account_test_iam_permissions_counts_grants_on_that_account(emulator: Emulator) -> None:
    """IAM serviceAccounts.testIamPermissions, for `doctor`: actAs granted on one account shows only there."""
    grant(emulator, [*ALL, f"iam.serviceAccounts.actAs:{JOB_SA}"])
    asked = ["iam.serviceAccounts.actAs"]
    path = "/v1/projects/-/serviceAccounts/{}:testIamPermissions"
    assert check_permissions(emulator, path.format(JOB_SA), TOKEN, asked) == (200, {"permissions": asked})
    assert check_permissions(emulator, path.format("other@demo-project.iam.gserviceaccount.com"), TOKEN, asked) == (
        200,
        {},
    )
    [first, _] = emulator.requests("TestIamPermissions")
    assert (first["resource"], first["principal"]) == (f"projects/-/serviceAccounts/{JOB_SA}", RUNNER)
    grant(emulator, ["iam.serviceAccounts.actAs"])
    assert check_permissions(emulator, path.format("any@demo-project.iam.gserviceaccount.com"), TOKEN, asked) == (
        200,
        {"permissions": asked},
    )
