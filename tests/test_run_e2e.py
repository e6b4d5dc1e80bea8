"""The launcher end to end: the real process and the real GAPIC client against the emulator, over gRPC."""

from __future__ import annotations

import itertools
import json
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_gcs import FakeGcs
from tests.launcher import finish, launcher_env, run, signal_when, start
from tests.pipelines import compile_pipeline


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle: ~0.5 s queued+pending, ~1 s running."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


def test_a_successful_custom_job_exits_0_with_the_canonical_result(fast: Emulator, tmp_path: Path) -> None:
    """Submit, watch, succeed: exit 0, last record is the canonical result, termination message written."""
    done = run(launcher_env(fast, tmp_path, run_key="run-ok", k8s_namespace="ml"))
    assert done.exit_code == 0, done.stderr
    result = done.result
    assert result["message"] == "run finished"
    assert (result["outcome"], result["state"], result["exit_code"]) == ("succeeded", "JOB_STATE_SUCCEEDED", 0)
    assert result["job"].startswith("projects/demo/locations/us-central1/customJobs/")
    assert result["console_url"].startswith("https://console.cloud.google.com/vertex-ai/locations/us-central1/")
    assert json.loads((tmp_path / "termination-log").read_text())["outcome"] == "succeeded"
    [job] = fast.jobs()
    assert job["labels"] == {
        "vertex-launcher-run": "run-ok",
        "vertex-launcher-schedule": "vertex-launcher",
        "vertex-launcher-attempt": "1",
        "k8s-namespace": "ml",
    }
    messages = [r["message"] for r in done.records]
    assert "job submitted" in messages
    assert "job state changed" in messages


def test_the_run_works_with_the_images_optimised_bytecode(fast: Emulator, tmp_path: Path) -> None:
    """The image runs with PYTHONOPTIMIZE=2 (docstrings and asserts stripped): a run still succeeds."""
    done = run({**launcher_env(fast, tmp_path), "PYTHONOPTIMIZE": "2"})
    assert (done.exit_code, done.result["outcome"]) == (0, "succeeded"), done.stderr


def test_a_failed_job_exits_1_and_carries_the_vertex_error(fast: Emulator, tmp_path: Path) -> None:
    """The job ends FAILED: exit 1, outcome failed, Vertex's error in the result."""
    done = run(launcher_env(fast, tmp_path, labels={"emulator-outcome": "failed"}))
    assert done.exit_code == 1
    assert (done.result["outcome"], done.result["state"]) == ("failed", "JOB_STATE_FAILED")
    assert done.result["vertex_error"]["message"]


def test_a_pipeline_run_with_parameters_succeeds(fast: Emulator, tmp_path: Path) -> None:
    """A kfp-compiled pipeline with templated parameters runs to success; the result summarises its tasks."""
    template = compile_pipeline(tmp_path / "pipeline.yaml")
    env = launcher_env(
        fast,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template=str(template),
        pipeline_parameters={"day": "{{scheduled_date}}", "epochs": 2},
        scheduled_time="2026-01-31T02:00:00Z",
        run_key="pipe-1",
    )
    done = run(env)
    assert done.exit_code == 0, done.stderr
    assert (done.result["outcome"], done.result["state"]) == ("succeeded", "PIPELINE_STATE_SUCCEEDED")
    assert done.result["tasks"]["counts"]
    [create] = fast.requests("CreatePipelineJob")
    assert create["code"] == "OK"


def test_timeout_cancels_the_job_and_exits_4(fast: Emulator, tmp_path: Path) -> None:
    """TIMEOUT_SECONDS passes while the job runs: the job is cancelled, exit 4."""
    done = run(launcher_env(fast, tmp_path, timeout_seconds="1", labels={"emulator-run-seconds": "600"}))
    assert done.exit_code == 4
    assert done.result["outcome"] == "timeout"
    assert done.result["cancel_confirmed"] is True
    [job] = fast.jobs()
    assert job["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_wait_false_exits_0_after_exactly_one_create(fast: Emulator, tmp_path: Path) -> None:
    """WAIT=false: one CreateCustomJob, outcome submitted, exit 0."""
    done = run(launcher_env(fast, tmp_path, wait="false"))
    assert (done.exit_code, done.result["outcome"]) == (0, "submitted")
    assert len(fast.requests("CreateCustomJob")) == 1
    assert fast.requests("GetCustomJob") == []


def test_transient_get_faults_are_retried(fast: Emulator, tmp_path: Path) -> None:
    """UNAVAILABLE and INTERNAL on GET are retried; the run still succeeds with one job."""
    fast.add_faults(
        [
            {"method": "GetCustomJob", "nth": 1, "count": 2, "code": "UNAVAILABLE"},
            {"method": "GetCustomJob", "nth": 4, "count": 1, "code": "INTERNAL"},
        ]
    )
    done = run(launcher_env(fast, tmp_path))
    assert done.exit_code == 0, done.stdout
    assert len(fast.jobs()) == 1
    assert any(r["message"].startswith("could not get the job; retrying") for r in done.records)


def test_a_rerun_with_the_same_run_key_reattaches(fast: Emulator, tmp_path: Path) -> None:
    """A second process with the same RUN_KEY reports the first one's job and creates nothing."""
    env = launcher_env(fast, tmp_path, run_key="same-key")
    first = run(env)
    second = run(env)
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert second.result["job"] == first.result["job"]
    assert second.result["reattached"] is True
    assert len(fast.requests("CreateCustomJob")) == 1


def test_sigterm_while_watching_cancels_the_job_and_exits_143(fast: Emulator, tmp_path: Path) -> None:
    """SIGTERM while the job runs: cancel requested and seen, exit 143, outcome cancelled (never success)."""
    process = start(launcher_env(fast, tmp_path, labels={"emulator-run-seconds": "600"}))
    signal_when(process, lambda: any(j["state"] == "JOB_STATE_RUNNING" for j in fast.jobs()))
    done = finish(process)
    assert done.exit_code == 143
    assert (done.result["outcome"], done.result["cancel_confirmed"]) == ("cancelled", True)
    [job] = fast.jobs()
    assert job["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_sigterm_with_detach_leaves_the_job_running(fast: Emulator, tmp_path: Path) -> None:
    """ON_TERMINATE=detach: exit 143, the job keeps running and is named in the result."""
    process = start(launcher_env(fast, tmp_path, on_terminate="detach", labels={"emulator-run-seconds": "600"}))
    signal_when(process, lambda: any(j["state"] == "JOB_STATE_RUNNING" for j in fast.jobs()), signal.SIGINT)
    done = finish(process)
    assert (done.exit_code, done.result["outcome"]) == (143, "detached")
    [job] = fast.jobs()
    assert job["state"] == "JOB_STATE_RUNNING"
    assert done.result["job"] == job["name"]


def test_forbid_skips_while_an_earlier_run_of_the_schedule_is_active(fast: Emulator, tmp_path: Path) -> None:
    """CONCURRENCY_POLICY=Forbid: a second run of the schedule is skipped (exit 0) and names the blocker."""
    first = run(launcher_env(fast, tmp_path, run_key="a", wait="false", labels={"emulator-run-seconds": "600"}))
    second = run(launcher_env(fast, tmp_path, run_key="b"))
    assert (second.exit_code, second.result["outcome"]) == (0, "skipped")
    assert second.result["blocking_jobs"] == [first.result["job"]]
    assert len(fast.jobs()) == 1


def test_render_prints_the_create_request_without_credentials_or_network(fast: Emulator, tmp_path: Path) -> None:
    """`render` prints the exact CreateCustomJob request and sends nothing."""
    env = launcher_env(fast, tmp_path, credentials=None, run_key="r1", args=["--day", "{{scheduled_date}}"])
    env["VERTEX_LAUNCHER_SCHEDULED_TIME"] = "2026-01-31T02:00:00Z"
    done = run(env, "render")
    assert done.exit_code == 0, done.stderr
    request = json.loads(done.stdout)
    assert request["parent"] == "projects/demo/locations/us-central1"
    assert request["customJob"]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"] == ["--day", "2026-01-31"]
    assert fast.requests() == []


def test_a_pipeline_template_from_gcs_is_read_with_google_cloud_storage(
    fast: Emulator, tmp_path: Path, fake_gcs: FakeGcs
) -> None:
    """PIPELINE_TEMPLATE=gs://…: the real storage client downloads it (STORAGE_EMULATOR_HOST) and the run succeeds."""
    fake_gcs.objects["templates/nightly.yaml"] = compile_pipeline(tmp_path / "p.yaml").read_bytes()
    env = launcher_env(
        fast,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template="gs://templates/nightly.yaml",
        pipeline_parameters={"day": "2026-01-31"},
        STORAGE_EMULATOR_HOST=fake_gcs.url,
    )
    done = run(env)
    assert done.exit_code == 0, done.stdout + done.stderr
    assert any("templates/o/nightly.yaml" in path for path in fake_gcs.paths)
    assert done.result["state"] == "PIPELINE_STATE_SUCCEEDED"


def test_a_missing_gcs_template_is_a_config_error(fast: Emulator, tmp_path: Path, fake_gcs: FakeGcs) -> None:
    """A gs:// template that does not exist: exit 2 naming the variable, nothing submitted."""
    env = launcher_env(
        fast,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template="gs://templates/missing.yaml",
        STORAGE_EMULATOR_HOST=fake_gcs.url,
    )
    done = run(env)
    assert done.exit_code == 2
    assert "VERTEX_LAUNCHER_PIPELINE_TEMPLATE: gs://templates/missing.yaml does not exist" in done.stderr
    assert fast.requests("CreatePipelineJob") == []


LOG_SCENARIOS: dict[str, tuple[dict[str, Any], int]] = {
    "success": ({}, 0),
    "failure": ({"labels": {"emulator-outcome": "failed"}}, 1),
    "timeout": ({"timeout_seconds": "1", "labels": {"emulator-run-seconds": "600"}}, 4),
    "config error": ({"wait": "maybe"}, 2),
}


@pytest.mark.parametrize("scenario", sorted(LOG_SCENARIOS))
def test_every_stdout_line_is_a_cloud_logging_structured_record(fast: Emulator, tmp_path: Path, scenario: str) -> None:
    """Each line is JSON with severity, message, time, labels and source location; the last is the result."""
    settings, exit_code = LOG_SCENARIOS[scenario]
    done = run(launcher_env(fast, tmp_path, run_key="logs-1", schedule_name="nightly", **settings))
    assert done.exit_code == exit_code
    for record in done.records:
        assert record["severity"] in ("DEBUG", "INFO", "WARNING", "ERROR")
        assert record["message"]
        assert record["time"].endswith("Z")
        assert {"file", "line", "function"} <= set(record["logging.googleapis.com/sourceLocation"])
    labels = done.records[-1]["logging.googleapis.com/labels"]
    assert (labels.get("run_key"), labels.get("schedule")) == (
        ("logs-1", "nightly") if scenario != "config error" else (None, None)
    )
    result = done.result
    assert result["message"] == "run finished"
    assert {"outcome", "job", "state", "exit_code", "duration_seconds", "console_url", "launcher_version"} <= set(
        result
    )
    assert result["severity"] == ("INFO" if exit_code == 0 else "ERROR")
    if scenario in ("success", "failure", "timeout"):
        assert labels["job"] == result["job"]
        assert {"display_name", "create_time", "logs_url"} <= set(result)


def test_a_sigterm_run_ends_with_a_warning_result_record(fast: Emulator, tmp_path: Path) -> None:
    """SIGTERM: the last record is the result at WARNING, stopped_by names the signal."""
    process = start(launcher_env(fast, tmp_path, labels={"emulator-run-seconds": "600"}))
    signal_when(process, lambda: any(j["state"] == "JOB_STATE_RUNNING" for j in fast.jobs()))
    done = finish(process)
    assert (done.result["severity"], done.result["stopped_by"]) == ("WARNING", "SIGTERM")
    messages = [r["message"] for r in done.records]
    assert messages.index("cancelling the job") < messages.index("cancel confirmed") < messages.index("run finished")


def test_an_allocation_quota_refusal_fails_fast_naming_the_quota(fast: Emulator, tmp_path: Path) -> None:
    """More GPUs than the quota: RESOURCE_EXHAUSTED on create → exit 1 at once, the quota metric in the result."""
    fast.configure(gpu_quota={"NVIDIA_TESLA_T4": 2})
    done = run(launcher_env(fast, tmp_path, accelerator_type="NVIDIA_TESLA_T4", accelerator_count="4"))
    assert (done.exit_code, done.result["outcome"]) == (1, "error")
    assert "custom_model_training_nvidia_t4_gpus" in done.result["error"]["message"]
    assert len(fast.requests("CreateCustomJob")) == 1
    assert fast.jobs() == []


def test_a_rate_limited_create_waits_for_the_servers_retry_delay(fast: Emulator, tmp_path: Path) -> None:
    """429 with RetryInfo on create: look first (nothing there), wait at least the delay, create once more."""
    fast.add_fault(method="CreateCustomJob", nth=1, count=1, code="RESOURCE_EXHAUSTED", retry_delay_seconds=1.5)
    done = run(launcher_env(fast, tmp_path))
    assert done.exit_code == 0, done.stdout
    creates = fast.requests("CreateCustomJob")
    assert [c["code"] for c in creates] == ["RESOURCE_EXHAUSTED", "OK"]
    waited = datetime.fromisoformat(creates[1]["time"]) - datetime.fromisoformat(creates[0]["time"])
    assert waited.total_seconds() >= 1.5
    assert len(fast.jobs()) == 1


@pytest.mark.parametrize(
    ("job_type", "method"),
    [
        ("custom", "CreateCustomJob"),
        ("custom", "JobService.CreateCustomJob"),
        ("pipeline", "CreatePipelineJob"),
        ("pipeline", "/google.cloud.aiplatform.v1.PipelineService/CreatePipelineJob"),
    ],
)
def test_a_create_refused_permission_denied_exits_3_leaving_nothing_running(
    fast: Emulator, tmp_path: Path, job_type: str, method: str
) -> None:
    """PERMISSION_DENIED on create (the rule named short or qualified): exit 3, outcome error naming it, no job."""
    denial = "Permission 'aiplatform.jobs.create' denied on resource (or it may not exist)."
    fast.add_fault(method=method, count=0, code="PERMISSION_DENIED", message=denial)
    settings: dict[str, Any] = {"job_type": job_type}
    if job_type == "pipeline":
        template = compile_pipeline(tmp_path / "pipeline.yaml")
        settings |= {"image_uri": None, "pipeline_template": str(template), "pipeline_parameters": {"day": "d"}}
    done = run(launcher_env(fast, tmp_path, **settings))
    assert (done.exit_code, done.result["outcome"], done.result["exit_code"]) == (3, "error", 3), done.stdout
    assert done.result["error"]["code"] == "PERMISSION_DENIED"
    assert denial in done.result["error"]["message"]
    create = "CreateCustomJob" if job_type == "custom" else "CreatePipelineJob"
    assert [r["code"] for r in fast.requests(create)] == ["PERMISSION_DENIED"]
    assert fast.jobs() == []


@pytest.mark.parametrize("job_type", ["custom", "pipeline"])
def test_a_rate_limited_create_without_retry_info_is_retried_with_own_backoff(
    fast: Emulator, tmp_path: Path, job_type: str
) -> None:
    """Two 429s on create in the job-submission rate-limit shape (ErrorInfo RATE_LIMIT_EXCEEDED, a rate
    QuotaFailure, no RetryInfo): retried after the launcher's own growing backoff, exactly one job, exit 0."""
    create = "CreateCustomJob" if job_type == "custom" else "CreatePipelineJob"
    fast.add_fault(method=create, nth=1, count=2, code="RESOURCE_EXHAUSTED")
    settings: dict[str, Any] = {"job_type": job_type}
    if job_type == "pipeline":
        template = compile_pipeline(tmp_path / "pipeline.yaml")
        settings |= {"image_uri": None, "pipeline_template": str(template), "pipeline_parameters": {"day": "d"}}
    done = run(launcher_env(fast, tmp_path, **settings))
    assert (done.exit_code, done.result["outcome"]) == (0, "succeeded"), done.stdout
    creates = fast.requests(create)
    assert [c["code"] for c in creates] == ["RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED", "OK"]
    assert len(fast.jobs()) == 1
    # POLL_INITIAL_SECONDS=0.2: attempt n waits between half and all of 0.2 x 2^n (no server hint to honour).
    times = [datetime.fromisoformat(c["time"]) for c in creates]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= 0.1
    assert gaps[1] >= 0.2
    refusals = [r for r in done.records if r["message"].startswith("create failed")]
    assert len(refusals) == 2
    assert all(
        r["error_message"].startswith("rate limited by aiplatform.googleapis.com/job_submission_requests")
        for r in refusals
    )
