"""STREAM_LOGS=true end to end: the real launcher process streams the job's entries from the emulator's Cloud
Logging API with the real google-cloud-logging GAPIC client, and the test lists the same entries with that client.

The emulator runs 10× fast; entries reach Logging up to 2 simulated seconds late (out of order), so the launcher
holds them ``STREAM_LOGS_LAG_SECONDS=2``. Each case checks the contract: every job entry printed once, in
(timestamp, insertId) order, between the launcher's own records, and ``run finished`` last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport

from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_google import FakeMetadataServer
from tests.launcher import Finished, finish, launcher_env, run, signal_when, start
from tests.pipelines import compile_pipeline

READ = "logging.logEntries.list"
JOB_PERMISSIONS = [f"aiplatform.customJobs.{verb}" for verb in ("create", "get", "list", "cancel")]


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """10× time, 20 s jobs, 120 lines a simulated minute per replica, up to 2 simulated seconds of ingestion delay."""
    emulator.configure(time_scale=10.0, queued_seconds=1, pending_seconds=2, run_seconds=20, cancel_seconds=2)
    emulator.control("POST", "logs", {"lines_per_minute": 120, "ingestion_delay_seconds": 2})
    return emulator


def streaming_env(emulator: Emulator, tmp_path: Path, **settings: Any) -> dict[str, str]:
    """The launcher pointed at the emulator for both Vertex and Cloud Logging, streaming with short pauses."""
    streaming = {
        "stream_logs": "true",
        "logging_api_endpoint": emulator.grpc,
        "stream_logs_poll_seconds": "0.2",
        "stream_logs_lag_seconds": "2",
        "stream_logs_drain_seconds": "20",
    }
    return launcher_env(emulator, tmp_path, **(streaming | settings))


def job_lines(done: Finished) -> list[dict[str, Any]]:
    """The stdout records that are lines of the job's log."""
    return [record for record in done.records if "vertex_log" in record]


def listed(emulator: Emulator, filter_: str) -> list[Any]:
    """Every entry matching ``filter_``, as the real GAPIC client lists it."""
    client = LoggingServiceV2Client(
        transport=LoggingServiceV2GrpcTransport(channel=grpc.insecure_channel(emulator.grpc))
    )
    request = {"resource_names": ["projects/demo"], "filter": filter_, "page_size": 1000}
    return list(client.list_log_entries(request=request))


def custom_filter(job_name: str) -> str:
    """The entries of one CustomJob."""
    return f'resource.type="ml_job" AND resource.labels.job_id="{job_name.rsplit("/", 1)[-1]}"'


def assert_streamed_once_in_order(done: Finished, expected: list[Any]) -> None:
    """The job's lines are exactly ``expected`` (ascending), between the launcher's records, the result last."""
    lines = job_lines(done)
    assert [line["vertex_log"]["insert_id"] for line in lines] == [entry.insert_id for entry in expected]
    keys = [(line["vertex_log"]["timestamp"], line["vertex_log"]["insert_id"]) for line in lines]
    assert keys == sorted(keys)
    messages = [record["message"] for record in done.records]
    first = messages.index(lines[0]["message"])
    assert messages.index("job submitted") < first or messages.index("reattached to this run's job") < first
    assert done.records[-1]["message"] == "run finished"
    assert "vertex_log" not in done.records[-1]
    summary = done.result["vertex_logs"]
    assert (summary["printed"], summary["dropped"], summary["drained"]) == (len(expected), 0, True)


def test_every_entry_of_a_custom_job_is_printed_once_in_order_between_the_launchers_records(
    fast: Emulator, tmp_path: Path
) -> None:
    """Two replicas + the service: all 43 entries, ordered across replicas and pages, drained before the result."""
    done = run(streaming_env(fast, tmp_path, replica_count="2", run_key="stream-1"))
    assert done.exit_code == 0, done.stderr
    expected = listed(fast, custom_filter(done.result["job"]))
    assert len(expected) == 2 * 40 + 3
    assert_streamed_once_in_order(done, expected)
    lines = job_lines(done)
    assert {line["vertex_log"]["task"] for line in lines} == {"service", "workerpool0-0", "workerpool0-1"}
    assert {line["severity"] for line in lines} >= {"INFO", "WARNING", "DEBUG"}
    assert lines[-1]["message"] == "Job completed successfully."
    assert all(line["logging.googleapis.com/labels"]["run_key"] == "stream-1" for line in lines)
    start_record = next(r for r in done.records if r["message"].startswith("streaming the job's logs"))
    assert start_record["reattached"] is False


def test_a_pipeline_streams_its_own_events_and_every_tasks_lines(fast: Emulator, tmp_path: Path) -> None:
    """PipelineJob: the pipeline's state events and each task CustomJob's lines, tagged with the task's name."""
    template = compile_pipeline(tmp_path / "pipeline.yaml")
    env = streaming_env(
        fast,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template=str(template),
        pipeline_parameters={"day": "2026-01-31"},
        run_key="stream-pipe",
    )
    done = run(env)
    assert done.exit_code == 0, done.stderr
    job = fast.pipeline_client().get_pipeline_job(name=done.result["job"])
    task_jobs = {
        task.task_name: task.executor_detail.container_detail.main_job
        for task in job.job_detail.task_details
        if task.executor_detail.container_detail.main_job
    }
    assert set(task_jobs) == {"train", "evaluate"}
    pipeline_id = job.name.rsplit("/", 1)[-1]
    own = f'resource.type="aiplatform.googleapis.com/PipelineJob" AND resource.labels.pipeline_job_id="{pipeline_id}"'
    expected = sorted(
        [*listed(fast, own), *(entry for name in task_jobs.values() for entry in listed(fast, custom_filter(name)))],
        key=lambda entry: (entry.timestamp, entry.insert_id),
    )
    assert_streamed_once_in_order(done, expected)
    by_task = {line["vertex_log"].get("pipeline_task") for line in job_lines(done)}
    assert by_task == {None, "train", "evaluate"}  # None: the pipeline's own events


def test_bursts_of_429_pause_streaming_with_one_warning_and_lose_nothing(fast: Emulator, tmp_path: Path) -> None:
    """Four reads refused with Logging's read-quota error: one 'paused' warning, 'resumed', every entry once, exit 0."""
    fast.add_fault(method="ListLogEntries", nth=3, count=4, code="RESOURCE_EXHAUSTED")
    done = run(streaming_env(fast, tmp_path))
    assert done.exit_code == 0, done.stderr
    assert_streamed_once_in_order(done, listed(fast, custom_filter(done.result["job"])))
    messages = [record["message"] for record in done.records]
    paused = [m for m in messages if m.startswith("job log streaming paused")]
    assert len(paused) == 1
    assert messages.count("job log streaming resumed") == 1
    assert done.result["vertex_logs"]["refused"] == 4
    refused = [r for r in fast.requests("ListLogEntries") if r["code"] == "RESOURCE_EXHAUSTED"]
    assert len(refused) == 4


class _TokenMetadataServer(FakeMetadataServer):
    """A metadata server that always issues one known token (which the emulator maps to a principal)."""

    def __init__(self, token: str) -> None:
        super().__init__(email="runner@demo.iam.gserviceaccount.com", project_id="demo")
        self.token = token

    def new_token(self, what: str = "access") -> str:
        self.issued.append(self.token)
        return self.token


def test_without_the_read_permission_one_warning_names_it_and_the_run_still_succeeds(
    fast: Emulator, tmp_path: Path
) -> None:
    """IAM on, the principal holds the job permissions but not logging.logEntries.list: exit 0, one warning."""
    mds = _TokenMetadataServer("runner-token").start()
    try:
        fast.set_principals(
            [{"email": "runner@demo.iam.gserviceaccount.com", "token": "runner-token", "permissions": JOB_PERMISSIONS}]
        )
        env = streaming_env(
            fast, tmp_path, run_key="denied", credentials=None, GCE_METADATA_HOST=mds.host, GCE_METADATA_IP=mds.host
        )
        done = run(env)
    finally:
        mds.stop()
    assert (done.exit_code, done.result["outcome"]) == (0, "succeeded"), done.stderr
    warnings = [r for r in done.records if r["severity"] == "WARNING"]
    assert len(warnings) == 1
    assert READ in warnings[0]["message"]
    assert "PERMISSION_DENIED" in warnings[0]["error_message"]
    assert job_lines(done) == []
    assert done.result["vertex_logs"]["off"].startswith("PERMISSION_DENIED")
    assert len(fast.requests("ListLogEntries")) == 1
    assert "runner-token" not in done.stdout + done.stderr


def test_sigterm_while_streaming_still_cancels_within_the_grace_budget(fast: Emulator, tmp_path: Path) -> None:
    """SIGTERM with lines flowing: cancel confirmed, exit 143 quickly, the result record last, no drain."""
    env = streaming_env(fast, tmp_path, labels={"emulator-run-seconds": "600"}, stream_logs_drain_seconds="30")
    process = start(env)
    signal_when(process, lambda: len(fast.requests("ListLogEntries")) >= 3)
    signalled = time.monotonic()
    done = finish(process)
    took = time.monotonic() - signalled
    assert done.exit_code == 143, done.stderr
    assert (done.result["outcome"], done.result["cancel_confirmed"]) == ("cancelled", True)
    assert took < 10  # the cancel grace budget is 20 s; a drain (30 s here) would have blown it
    assert done.records[-1]["message"] == "run finished"
    assert "drained" not in done.result["vertex_logs"]
    assert done.result["vertex_logs"]["printed"] == len(job_lines(done)) > 0
    [job] = fast.jobs()
    assert job["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_a_job_printing_10000_lines_a_minute_is_rate_limited_and_the_drops_counted(
    fast: Emulator, tmp_path: Path
) -> None:
    """10,000 lines a simulated minute for 20 s (3,333 lines) at 200 lines a minute: the rest counted as dropped."""
    env = streaming_env(
        fast, tmp_path, labels={"emulator-log-lines-per-minute": "10000"}, stream_logs_max_lines_per_minute="200"
    )
    done = run(env)
    assert done.exit_code == 0, done.stderr
    total = len(listed(fast, custom_filter(done.result["job"])))
    summary = done.result["vertex_logs"]
    assert total == 3333 + 3
    assert 200 <= summary["printed"] < 300  # a minute's worth at once, then 200 a minute
    assert summary["printed"] + summary["dropped"] == total
    assert len(job_lines(done)) == summary["printed"]
    warnings = [r for r in done.records if "STREAM_LOGS_MAX_LINES_PER_MINUTE=200" in r["message"]]
    assert len(warnings) == 1
    assert done.records[-1]["message"] == "run finished"


def test_streaming_off_by_default_imports_no_logging_client(fast: Emulator, tmp_path: Path) -> None:
    """Without STREAM_LOGS nothing is read: no ListLogEntries call, no vertex_logs in the result."""
    done = run(launcher_env(fast, tmp_path))
    assert done.exit_code == 0, done.stderr
    assert fast.requests("ListLogEntries") == []
    assert "vertex_logs" not in done.result
    assert job_lines(done) == []
