"""What the launcher finds by listing, end to end: the real process and GAPIC client against the emulator.

The emulator lists like Vertex does (ListCustomJobs in no documented order, list views without pipeline task
details), so each test here would pass against a lenient fake and fails against the real API's rules.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.jobs import custom_job
from tests.fixtures.emulator import Emulator
from tests.launcher import launcher_env, run
from tests.pipelines import compile_pipeline

PARENT = "projects/demo/locations/us-central1"


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle: ~0.5 s queued+pending, ~1 s running."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


def _when(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339)


def test_a_retried_pod_follows_the_newest_of_its_jobs_whatever_the_list_order(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """Several jobs carry the run's label (a duplicate from an earlier bug, say): the newest by create_time wins,
    although ListCustomJobs returns them in no particular order."""
    emulator = emulator_factory(
        "--seed", "11", "--queued-seconds", "0", "--pending-seconds", "0", "--run-seconds", "1e9"
    )
    client = emulator.job_client("grpc")
    made = [
        client.create_custom_job(parent=PARENT, custom_job=custom_job(f"dup-{i}", labels={"vertex-launcher-run": "k"}))
        for i in range(5)
    ]
    listed = [job.name for job in client.list_custom_jobs(request={"parent": PARENT})]
    assert listed[0] != made[-1].name  # the emulator's (seeded) order does not put the newest first
    done = run(launcher_env(emulator, tmp_path, run_key="k", wait="false"))
    assert (done.exit_code, done.result["job"], done.result["reattached"]) == (0, made[-1].name, True)
    assert len(emulator.requests("CreateCustomJob")) == len(made)  # the launcher created nothing


def test_reattaching_to_an_ended_pipeline_reports_its_tasks(fast: Emulator, tmp_path: Path) -> None:
    """A retried pod finds its pipeline job ended: it GETs it (lists omit task details) and reports the tasks."""
    template = compile_pipeline(tmp_path / "pipeline.yaml")
    env = launcher_env(
        fast,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template=str(template),
        pipeline_parameters={"day": "2026-01-31"},
        run_key="pipe-reattach",
        labels={"emulator-outcome": "failed"},
    )
    first = run(env)
    second = run(env)
    assert (first.exit_code, second.exit_code) == (1, 1)
    assert second.result["reattached"] is True
    assert second.result["tasks"] == first.result["tasks"]
    assert second.result["tasks"]["failed"]


def test_replace_submits_only_after_the_replaced_job_has_ended(fast: Emulator, tmp_path: Path) -> None:
    """CONCURRENCY_POLICY=Replace, and the earlier job ends SUCCEEDED while CANCELLING (the cancel came too late):
    the new job is created after the earlier one's end, never beside it."""
    fast.configure(cancel_seconds=150)  # 15 s real: longer than the earlier job has left to run
    client = fast.job_client("grpc")
    labels = {"vertex-launcher-run": "earlier", "vertex-launcher-schedule": "nightly", "emulator-run-seconds": "80"}
    earlier = client.create_custom_job(parent=PARENT, custom_job=custom_job("earlier", labels=labels))
    done = run(launcher_env(fast, tmp_path, schedule_name="nightly", concurrency_policy="Replace", wait="false"))
    assert (done.exit_code, done.result["outcome"]) == (0, "submitted"), done.stdout
    ended = client.get_custom_job(name=earlier.name)
    assert ended.state.name == "JOB_STATE_SUCCEEDED"  # it was never really stopped
    # Both times on the emulator's (scaled) clock:
    assert _when(done.result["create_time"]) >= ended.end_time
    assert "earlier run(s) ended" in [record["message"] for record in done.records]


@pytest.mark.parametrize(("namespace", "skipped"), [("prod", True), ("dev", False)])
def test_the_concurrency_check_keeps_namespaces_apart(
    fast: Emulator, tmp_path: Path, namespace: str, skipped: bool
) -> None:
    """Two CronJobs called nightly in dev and prod share a project: only the same namespace's run blocks."""
    client = fast.job_client("grpc")
    labels = {
        "vertex-launcher-run": "earlier",
        "vertex-launcher-schedule": "nightly",
        "k8s-namespace": "prod",
        "emulator-run-seconds": "600",
    }
    client.create_custom_job(parent=PARENT, custom_job=custom_job("earlier", labels=labels))
    done = run(launcher_env(fast, tmp_path, schedule_name="nightly", k8s_namespace=namespace, wait="false"))
    assert done.exit_code == 0, done.stdout
    assert done.result["outcome"] == ("skipped" if skipped else "submitted")
    assert len(fast.requests("CreateCustomJob")) == (1 if skipped else 2)  # the test's, and the launcher's
