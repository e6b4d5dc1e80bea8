"""The emulator's Cloud Logging read API, proven with clients we do not control.

google-cloud-logging's high-level ``Client.list_entries`` over REST, its GAPIC ``LoggingServiceV2Client`` over
gRPC (``list_log_entries`` and ``tail_log_entries``), ``gcloud logging read`` and ``gcloud ai custom-jobs
stream-logs`` through their endpoint overrides. The jobs are simulated at 20× speed: a 10 s job of 3 replicas at
120 lines a minute writes 60 lines plus the service's 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import logging as cloud_logging
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
from google.cloud.logging_v2.types import ListLogEntriesRequest, TailLogEntriesRequest
from google.rpc import error_details_pb2

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator

PROJECT = "demo-project"
POOLS = [
    {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 2, "container_spec": {"image_uri": "i"}},
    {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {"image_uri": "i"}},
]
LINES = 3 * 20 + 3  # three replicas × 10 s at 120 lines a minute, and the service's three lines


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator at 20× speed, jobs writing 120 lines a simulated minute per replica."""
    emulator.configure(time_scale=20)
    emulator.control("POST", "logs", {"lines_per_minute": 120, "ingestion_delay_seconds": 2})
    return emulator


def _ended_custom_job(emulator: Emulator, **labels: str) -> str:
    jobs = emulator.job_client()
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels=labels, worker_pool_specs=POOLS))
    deadline = time.monotonic() + 30
    while not jobs.get_custom_job(name=job.name).state.name.endswith("SUCCEEDED"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.2)  # the last lines' ingestion delay (2 simulated seconds = 0.1 s)
    return str(job.name)


def _job_filter(name: str) -> str:
    return f'resource.type="ml_job" AND resource.labels.job_id="{name.rsplit("/", 1)[-1]}"'


def _grpc_client(emulator: Emulator, token: str | None = None) -> LoggingServiceV2Client:
    if token:
        local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        creds = grpc.composite_channel_credentials(local, grpc.access_token_call_credentials(token))
        channel = grpc.secure_channel(emulator.grpc, creds)
    else:
        channel = grpc.insecure_channel(emulator.grpc)
    return LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))


def _rest_client(emulator: Emulator) -> Any:
    return cloud_logging.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        _use_grpc=False,
        client_options={"api_endpoint": emulator.rest},
    )


def test_the_rest_client_lists_every_entry_of_a_job_once_in_order_across_pages(fast: Emulator) -> None:
    """Client.list_entries (REST): all 63 entries, ascending by (timestamp, insertId), 7 per request."""
    name = _ended_custom_job(fast)
    entries = list(
        _rest_client(fast).list_entries(filter_=_job_filter(name), order_by=cloud_logging.ASCENDING, page_size=7)
    )
    assert len(entries) == LINES
    keys = [(entry.timestamp, entry.insert_id) for entry in entries]
    assert keys == sorted(keys)
    assert len(set(keys)) == LINES
    tasks = {entry.resource.labels["task_name"] for entry in entries}
    assert tasks == {"service", "workerpool0-0", "workerpool0-1", "workerpool1-0"}
    assert {entry.resource.type for entry in entries} == {"ml_job"}
    assert {entry.severity for entry in entries} >= {"INFO", "WARNING", "DEBUG"}
    text = [entry for entry in entries if entry.resource.labels["task_name"] == "workerpool0-0"]
    structured = [entry for entry in entries if entry.resource.labels["task_name"] == "workerpool1-0"]
    assert all(isinstance(entry.payload, str) for entry in text)
    assert all(isinstance(entry.payload, dict) and "message" in entry.payload for entry in structured)
    assert text[0].log_name == f"projects/{PROJECT}/logs/workerpool0-0"
    assert len(fast.requests("ListLogEntries")) == -(-LINES // 7)
    ties = len(keys) - len({timestamp for timestamp, _ in keys})
    assert ties > 0  # replicas write at the same instants: insertId orders them


def test_the_grpc_client_pages_through_the_same_entries_and_sorts_descending(fast: Emulator) -> None:
    """LoggingServiceV2Client.list_log_entries over plaintext gRPC: the same entries; timestamp desc reverses."""
    name = _ended_custom_job(fast)
    client = _grpc_client(fast)
    request = {"resource_names": [f"projects/{PROJECT}"], "filter": _job_filter(name), "page_size": 10}
    ascending = [entry.insert_id for entry in client.list_log_entries(request=request)]
    descending = [
        entry.insert_id for entry in client.list_log_entries(request={**request, "order_by": "timestamp desc"})
    ]
    via_rest = [entry.insert_id for entry in _rest_client(fast).list_entries(filter_=_job_filter(name))]
    assert len(ascending) == LINES
    assert descending == ascending[::-1]
    assert via_rest == ascending
    assert all(entry["transport"] == "grpc" for entry in fast.requests("ListLogEntries")[:7])


def test_entries_become_readable_only_after_their_ingestion_delay(emulator: Emulator) -> None:
    """Each entry is readable `delay` after its timestamp (receiveTimestamp), some later than newer ones."""
    emulator.configure(time_scale=20, run_seconds=30)
    emulator.control("POST", "logs", {"lines_per_minute": 600, "ingestion_delay_seconds": 20})
    name = _ended_custom_job(emulator)
    entries: list[Any] = list(
        _grpc_client(emulator).list_log_entries(
            request={"resource_names": [f"projects/{PROJECT}"], "filter": _job_filter(name)}
        )
    )
    delays = [(e.receive_timestamp - e.timestamp).total_seconds() for e in entries]
    assert min(delays) >= 0
    assert max(delays) <= 20
    received: list[Any] = [entry.receive_timestamp for entry in entries]
    assert received != sorted(received)  # ingestion reorders: timestamp order is not arrival order


def test_a_running_job_shows_only_what_has_arrived(emulator: Emulator) -> None:
    """While a job runs, lines whose ingestion delay has not passed are not listed yet."""
    emulator.configure(time_scale=20, run_seconds=600)
    emulator.control("POST", "logs", {"lines_per_minute": 600, "ingestion_delay_seconds": 30})
    job = emulator.job_client().create_custom_job(parent=PARENT, custom_job=custom_job())
    time.sleep(2.0)  # 40 simulated seconds: ~370 lines written, the last 30 s of them partly in flight
    request = {"resource_names": [f"projects/{PROJECT}"], "filter": _job_filter(job.name), "page_size": 1000}
    first = {entry.insert_id for entry in _grpc_client(emulator).list_log_entries(request=request)}
    time.sleep(1.0)
    second = {entry.insert_id for entry in _grpc_client(emulator).list_log_entries(request=request)}
    assert first < second


def test_a_pipeline_names_its_task_jobs_whose_entries_are_the_tasks_logs(fast: Emulator) -> None:
    """job_detail's task executor_detail.container_detail.main_job names a CustomJob; its ml_job entries exist."""
    pipelines = fast.pipeline_client()
    job = pipelines.create_pipeline_job(
        parent=PARENT, pipeline_job=pipeline_job("prepare", "train"), pipeline_job_id="nightly-1"
    )
    deadline = time.monotonic() + 30
    while not (done := pipelines.get_pipeline_job(name=job.name)).state.name.endswith("SUCCEEDED"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.2)
    mains = {task.task_name: task.executor_detail.container_detail.main_job for task in done.job_detail.task_details}
    assert mains["demo-pipeline"] == ""  # the root task runs no job
    assert all(mains[task].startswith(f"{PARENT}/customJobs/") for task in ("prepare", "train"))
    client = _grpc_client(fast)
    for task in ("prepare", "train"):
        request = {"resource_names": [f"projects/{PROJECT}"], "filter": _job_filter(mains[task])}
        lines = list(client.list_log_entries(request=request))
        assert len(lines) == 20
        assert {line.resource.labels["task_name"] for line in lines} == {"workerpool0-0"}
    own = 'resource.type="aiplatform.googleapis.com/PipelineJob" AND resource.labels.pipeline_job_id="nightly-1"'
    events = list(client.list_log_entries(request={"resource_names": [f"projects/{PROJECT}"], "filter": own}))
    assert [event.json_payload["state"] for event in events] == [
        "PIPELINE_STATE_PENDING",
        "PIPELINE_STATE_RUNNING",
        "PIPELINE_STATE_SUCCEEDED",
    ]


def test_reads_over_the_per_minute_quota_are_refused_like_cloud_logging(fast: Emulator) -> None:
    """Over read_requests_per_minute: 429 / RESOURCE_EXHAUSTED naming ReadRequestsPerMinutePerProject, no RetryInfo."""
    fast.control("POST", "logs", {"read_requests_per_minute": 2})
    client = _grpc_client(fast)
    request = ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter='resource.type="ml_job"')
    client.list_log_entries(request=request)
    client.list_log_entries(request=request)
    with pytest.raises(gexc.ResourceExhausted) as refused:
        client.list_log_entries(request=request)
    assert "Read requests per minute" in refused.value.message
    infos = [d for d in refused.value.details if isinstance(d, error_details_pb2.ErrorInfo)]
    assert infos[0].metadata["quota_limit"] == "ReadRequestsPerMinutePerProject"
    assert not any(isinstance(d, error_details_pb2.RetryInfo) for d in refused.value.details)
    with pytest.raises(gexc.TooManyRequests):
        list(_rest_client(fast).list_entries(filter_='resource.type="ml_job"'))


def test_a_principal_without_the_read_permission_is_refused_naming_it(fast: Emulator) -> None:
    """With IAM on, entries.list needs logging.logEntries.list (PERMISSION_DENIED worded like IAM)."""
    fast.set_principals(
        [
            {"email": "writer@demo.iam.gserviceaccount.com", "token": "t-writer", "permissions": []},
            {
                "email": "reader@demo.iam.gserviceaccount.com",
                "token": "t-reader",
                "permissions": ["logging.logEntries.list"],
            },
        ]
    )
    request = {"resource_names": [f"projects/{PROJECT}"], "filter": 'resource.type="ml_job"'}
    with pytest.raises(gexc.PermissionDenied, match=r"logging\.logEntries\.list"):
        _grpc_client(fast, "t-writer").list_log_entries(request=request)
    assert list(_grpc_client(fast, "t-reader").list_log_entries(request=request)) == []
    with pytest.raises(gexc.Unauthenticated):
        _grpc_client(fast).list_log_entries(request=request)


def test_bad_requests_are_invalid_arguments(fast: Emulator) -> None:
    """An unparseable filter, a page size over 1000, an unknown order, no resource names: INVALID_ARGUMENT."""
    client = _grpc_client(fast)
    base = {"resource_names": [f"projects/{PROJECT}"]}
    bad: dict[str, Any]
    for bad in (
        {**base, "filter": 'resource.type="ml_job" AND ('},
        {**base, "filter": "hello"},
        {**base, "page_size": 1001},
        {**base, "order_by": "severity"},
        {"resource_names": []},
    ):
        with pytest.raises(gexc.InvalidArgument):
            client.list_log_entries(request=bad)


def _tail(client: LoggingServiceV2Client, filter_: str) -> Any:
    request = TailLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=filter_)
    return client.tail_log_entries(requests=iter([request]))


def test_a_tail_session_streams_new_entries_and_at_most_ten_are_open(fast: Emulator) -> None:
    """tail_log_entries: entries that arrive after it opened; one session more than the limit is refused."""
    fast.configure(run_seconds=600)
    fast.control("POST", "logs", {"tail_sessions_per_project": 2})
    job = fast.job_client().create_custom_job(parent=PARENT, custom_job=custom_job())
    client = _grpc_client(fast)
    first, second = _tail(client, _job_filter(job.name)), _tail(client, _job_filter(job.name))
    got = next(iter(first))
    assert got.entries
    assert all(entry.resource.labels["job_id"] == job.name.rsplit("/", 1)[-1] for entry in got.entries)
    assert next(iter(second)).entries
    with pytest.raises(gexc.ResourceExhausted, match="live-tailing"):
        next(iter(_tail(client, _job_filter(job.name))))
    first.cancel()
    second.cancel()


def _gcloud_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": f"{emulator.rest}/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"{emulator.rest}/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "gcloud-token",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_PROJECT": PROJECT,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_logging_read_sees_the_jobs_entries(fast: Emulator, tmp_path: Path) -> None:
    """`gcloud logging read FILTER --order=asc` through api_endpoint_overrides/logging: the same entries."""
    name = _ended_custom_job(fast)
    done = subprocess.run(
        ["gcloud", "logging", "read", _job_filter(name), "--order=asc", "--freshness=1d", "--format=json"],
        env=_gcloud_env(fast, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    expected = [e.insert_id for e in _rest_client(fast).list_entries(filter_=_job_filter(name))]
    assert [entry["insertId"] for entry in read] == expected
    assert read[0]["resource"]["type"] == "ml_job"
    assert any("jsonPayload" in entry for entry in read)
    assert any("textPayload" in entry for entry in read)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_ai_custom_jobs_stream_logs_prints_the_jobs_lines(fast: Emulator, tmp_path: Path) -> None:
    """`gcloud ai custom-jobs stream-logs ID` (GetCustomJob, then entries.list with its cursor) on an ended job."""
    name = _ended_custom_job(fast)
    done = subprocess.run(
        [
            "gcloud",
            "ai",
            "custom-jobs",
            "stream-logs",
            name.rsplit("/", 1)[-1],
            "--region=us-central1",
            "--polling-interval=1",
        ],
        env=_gcloud_env(fast, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == LINES
    assert sum("workerpool1-0" in line for line in lines) == 20
    assert "Job completed successfully." in lines[-1]
    methods = [entry["method"] for entry in fast.requests()]
    assert methods.count("GetCustomJob") >= 2  # ours while waiting, and gcloud's
    assert "ListLogEntries" in methods
