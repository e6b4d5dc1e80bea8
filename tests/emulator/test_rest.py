"""REST/JSON specifics on the wire: paths, Google JSON error bodies, strict JSON parsing, unknown routes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator


def call(emulator: Emulator, verb: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One raw HTTP request; (status, decoded JSON)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emulator.rest}{path}", data=data, method=verb, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_create_get_list_cancel_on_the_real_paths(emulator: Emulator) -> None:
    """camelCase JSON in and out, on /v1/{parent}/customJobs, /v1/{name}, /v1/{name}:cancel."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=1e9, cancel_seconds=1e9)
    body = custom_job(labels={"team": "ml"})
    body["jobSpec"] = body.pop("job_spec")
    status, created = call(emulator, "POST", f"/v1/{PARENT}/customJobs", body)
    assert status == 200
    assert created["state"] == "JOB_STATE_RUNNING"
    assert created["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["machineType"] == "n1-standard-4"
    status, got = call(emulator, "GET", f"/v1/{created['name']}")
    assert (status, got["state"]) == (200, "JOB_STATE_RUNNING")
    status, listed = call(emulator, "GET", f"/v1/{PARENT}/customJobs?filter=labels.team%3Dml&pageSize=5")
    assert [job["name"] for job in listed["customJobs"]] == [created["name"]]
    assert call(emulator, "POST", f"/v1/{created['name']}:cancel", {}) == (200, {})
    assert call(emulator, "GET", f"/v1/{created['name']}")[1]["state"] == "JOB_STATE_CANCELLING"


def test_a_pipeline_job_id_comes_from_the_query_string(emulator: Emulator) -> None:
    """POST /v1/{parent}/pipelineJobs?pipelineJobId=ID names the job."""
    status, created = call(emulator, "POST", f"/v1/{PARENT}/pipelineJobs?pipelineJobId=nightly-1", pipeline_job())
    assert (status, created["name"]) == (200, f"{PARENT}/pipelineJobs/nightly-1")
    status, again = call(emulator, "POST", f"/v1/{PARENT}/pipelineJobs?pipelineJobId=nightly-1", pipeline_job())
    assert (status, again["error"]["status"]) == (409, "ALREADY_EXISTS")


def test_errors_are_google_json_error_bodies(emulator: Emulator) -> None:
    """{"error": {"code": HTTP, "message": ..., "status": NAME}} as google.api_core expects."""
    status, body = call(emulator, "GET", f"/v1/{PARENT}/customJobs/42")
    assert status == 404
    assert body == {
        "error": {"code": 404, "message": f"CustomJob {PARENT}/customJobs/42 is not found.", "status": "NOT_FOUND"}
    }


def test_retry_info_is_a_typed_detail_in_the_json_error(emulator: Emulator) -> None:
    """details carry "@type": type.googleapis.com/google.rpc.RetryInfo and a Duration string."""
    emulator.add_fault(method="ListCustomJobs", code="UNAVAILABLE", retry_delay_seconds=2)
    status, body = call(emulator, "GET", f"/v1/{PARENT}/customJobs")
    assert status == 503
    assert body["error"]["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]


def test_an_unknown_json_field_is_rejected_like_google_does(emulator: Emulator) -> None:
    """A misspelt field is INVALID_ARGUMENT "Invalid JSON payload received", not silently dropped."""
    status, body = call(emulator, "POST", f"/v1/{PARENT}/customJobs", {**custom_job(), "displayNam": "x"})
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Invalid JSON payload received" in body["error"]["message"]
    assert "displayNam" in body["error"]["message"]


@pytest.mark.parametrize(
    ("verb", "path"),
    [
        ("GET", "/v1/projects/p/locations/l/trainingPipelines"),
        ("DELETE", f"/v1/{PARENT}/customJobs/1:cancel"),
        ("GET", "/_emulator/nothing"),
    ],
)
def test_an_unknown_route_is_not_found(emulator: Emulator, verb: str, path: str) -> None:
    """Routes the emulator does not serve answer 404 with a JSON error body."""
    status, body = call(emulator, verb, path)
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")
