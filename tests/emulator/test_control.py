"""The emulator as a program: ready line, signals, options, config file, request log, and the control API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.aiplatform_v1 import JobState

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator, EmulatorError


def test_the_ready_line_names_both_endpoints_and_sigterm_exits_zero(tmp_path: Path) -> None:
    """First stdout line: exactly {"grpc", "rest", "pid"}; SIGTERM stops it with exit code 0."""
    emulator = Emulator(workdir=tmp_path).start()
    try:
        assert emulator.grpc.startswith("127.0.0.1:")
        assert emulator.rest.startswith("http://127.0.0.1:")
        assert emulator.process is not None
        assert emulator.pid == emulator.process.pid
    finally:
        assert emulator.stop() == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"defaults": {"run_seconds": -1}}, "defaults.run_seconds must be a number >= 0"),
        (
            {"faults": [{"method": "JobService.CreateCustomjob", "code": "PERMISSION_DENIED"}]},
            "fault rule method 'JobService.CreateCustomjob' is not a method the emulator serves",
        ),
    ],
)
def test_bad_options_exit_2_with_one_line_naming_the_problem(
    tmp_path: Path, content: dict[str, Any], problem: str
) -> None:
    """An invalid config file is reported on stderr and the process exits 2 without serving."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(content), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "vertex_launcher.emulator", "--port", "0", "--rest-port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert problem in done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_file_sets_defaults_rules_and_faults_at_start(emulator_factory: Any, tmp_path: Path) -> None:
    """--config JSON: lifecycle defaults, per-job rules and fault rules are active from the first request."""
    config = tmp_path / "emulator.json"
    config.write_text(
        json.dumps(
            {
                "defaults": {"queued_seconds": 0, "pending_seconds": 0, "run_seconds": 1e9},
                "rules": [{"filter": 'display_name="quick"', "run_seconds": 0, "outcome": "failed"}],
                "faults": [{"method": "GetCustomJob", "nth": 1, "code": "UNAVAILABLE"}],
            }
        ),
        encoding="utf-8",
    )
    emulator = emulator_factory("--config", str(config))
    jobs = emulator.job_client("grpc")
    slow = jobs.create_custom_job(parent=PARENT, custom_job=custom_job("slow"))
    quick = jobs.create_custom_job(parent=PARENT, custom_job=custom_job("quick"))
    with pytest.raises(exceptions.ServiceUnavailable):
        jobs.get_custom_job(name=slow.name)
    assert jobs.get_custom_job(name=slow.name).state == JobState.JOB_STATE_RUNNING
    assert jobs.get_custom_job(name=quick.name).state == JobState.JOB_STATE_FAILED


def test_the_request_log_file_has_one_json_line_per_request(emulator_factory: Any, tmp_path: Path) -> None:
    """--request-log: time, transport, method, resource, principal, status code, as the control API shows."""
    log = tmp_path / "requests.jsonl"
    emulator = emulator_factory("--request-log", str(log))
    emulator.job_client("grpc").create_custom_job(parent=PARENT, custom_job=custom_job())
    with pytest.raises(exceptions.NotFound):
        emulator.job_client("rest").get_custom_job(name=f"{PARENT}/customJobs/404")
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines == emulator.requests()
    assert [(e["transport"], e["method"], e["resource"], e["code"]) for e in lines] == [
        ("grpc", "CreateCustomJob", PARENT, "OK"),
        ("rest", "GetCustomJob", f"{PARENT}/customJobs/404", "NOT_FOUND"),
    ]
    assert lines[1]["http_status"] == 404
    assert all(set(e) >= {"time", "principal"} for e in lines)


def test_jobs_lists_both_kinds_with_state_and_labels(emulator: Emulator) -> None:
    """GET /_emulator/jobs: every job of both kinds, newest first."""
    emulator.configure(queued_seconds=1e9)
    custom = emulator.job_client().create_custom_job(parent=PARENT, custom_job=custom_job(labels={"a": "1"}))
    pipeline = emulator.pipeline_client().create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
    listed = emulator.jobs()
    assert [(job["name"], job["kind"], job["state"]) for job in listed] == [
        (pipeline.name, "pipeline", "PIPELINE_STATE_QUEUED"),
        (custom.name, "custom", "JOB_STATE_QUEUED"),
    ]
    assert listed[1]["labels"] == {"a": "1"}
    assert listed[1]["create_time"].endswith("Z")


def test_force_pins_a_job_in_a_state(emulator: Emulator) -> None:
    """POST /_emulator/jobs/{id}:force accepts the id or the full name."""
    jobs = emulator.job_client()
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    emulator.force(job.name.rsplit("/", 1)[1], "JOB_STATE_PAUSED")
    assert jobs.get_custom_job(name=job.name).state == JobState.JOB_STATE_PAUSED
    emulator.force(job.name, "JOB_STATE_FAILED")
    assert jobs.get_custom_job(name=job.name).state == JobState.JOB_STATE_FAILED
    with pytest.raises(EmulatorError, match="Cannot force state"):
        emulator.force(job.name, "PIPELINE_STATE_RUNNING")


def test_reset_forgets_jobs_requests_and_runtime_changes(emulator: Emulator) -> None:
    """After reset: no jobs, an empty log, the startup configuration."""
    emulator.job_client().create_custom_job(parent=PARENT, custom_job=custom_job())
    emulator.configure(run_seconds=123, time_scale=7)
    emulator.add_fault(method="GetCustomJob")
    emulator.reset()
    config = emulator.control("GET", "config")
    assert (emulator.jobs(), emulator.requests()) == ([], [])
    assert (config["defaults"]["run_seconds"], config["time_scale"], config["faults"]) == (10.0, 1.0, [])


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"run_seconds": "long"}, "run_seconds must be a number"),
        ({"outcome": "exploded"}, "outcome must be one of"),
        ({"colour": "red"}, "unknown config key"),
        ({"rules": [{"filter": "labels.a=="}]}, "Unsupported filter"),
        ({"time_scale": 0}, "time_scale must be > 0"),
    ],
)
def test_bad_runtime_settings_are_refused_with_a_message(
    emulator: Emulator, settings: dict[str, Any], problem: str
) -> None:
    """POST /_emulator/config answers 400 naming the problem and changes nothing."""
    with pytest.raises(EmulatorError, match=problem):
        emulator.configure(**settings)
    assert emulator.control("GET", "config")["defaults"]["run_seconds"] == 10.0


def test_the_time_scale_can_change_at_runtime(emulator: Emulator) -> None:
    """A fast-forwarded emulator finishes a long job without waiting for it in real time."""
    jobs = emulator.job_client()
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=3600, time_scale=1e7)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    emulator.control("GET", "health")
    assert jobs.get_custom_job(name=job.name).state == JobState.JOB_STATE_SUCCEEDED


def test_a_project_number_replaces_the_project_id_in_names(emulator_factory: Any) -> None:
    """--project-number: names use the number like Vertex does; the project id still finds the job."""
    emulator = emulator_factory("--project-number", "123456789012")
    jobs = emulator.job_client()
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    assert job.name.startswith("projects/123456789012/locations/us-central1/customJobs/")
    by_id = f"{PARENT}/customJobs/{job.name.rsplit('/', 1)[1]}"
    assert jobs.get_custom_job(name=by_id).name == job.name
    assert [found.name for found in jobs.list_custom_jobs(request={"parent": PARENT})] == [job.name]


def test_a_sigkill_keeps_what_was_persisted(emulator_factory: Any) -> None:
    """Every mutation is written atomically, so even SIGKILL loses no created job."""
    emulator = emulator_factory()
    job = emulator.job_client().create_custom_job(parent=PARENT, custom_job=custom_job())
    emulator.kill()
    emulator.start()
    assert [found["name"] for found in emulator.jobs()] == [job.name]
