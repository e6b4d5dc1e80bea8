"""Attempts as a specification: resume after a stopped pod, capacity-aware resubmission, fallbacks, usage.

A scripted fake backend (each created job ends as the script says), virtual time, the real ``Watcher`` per attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tests.fakes import FakeBackend
from vertex_launcher.attempts import AttemptPolicy, Attempts, RunBackend, attempt_request, classify
from vertex_launcher.clock import FakeClock
from vertex_launcher.errors import ConfigError, QuotaExceededError, TransientApiError
from vertex_launcher.jobs import JobRequest, JobView, Pool
from vertex_launcher.poll import PollSchedule
from vertex_launcher.result import ExitCode, Outcome, RunResult, is_terminal
from vertex_launcher.settings import ResubmitFallback
from vertex_launcher.watch import Policy, Watcher

PARENT = "projects/p/locations/us-central1"
STOCKOUT = "Resources are insufficient in region: us-central1. Try a different region or use a different accelerator."
T4_QUOTA = "aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus"
ZONE = "The zone 'projects/p/zones/us-central1-a' does not have enough resources available to fulfill the request."
START, END = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"


def request(kind: str = "custom", machine: dict[str, Any] | None = None) -> JobRequest:
    labels = {"vertex-launcher-run": "run-1", "vertex-launcher-schedule": "nightly", "vertex-launcher-attempt": "1"}
    machine = machine or {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}
    pool = {"machineSpec": machine, "replicaCount": "2", "containerSpec": {"imageUri": "busybox"}}
    body: dict[str, Any] = {"displayName": "nightly-1", "labels": labels}
    if kind == "custom":
        body["jobSpec"] = {"workerPoolSpecs": [pool]}
    return JobRequest(
        kind=kind,  # type: ignore[arg-type]
        parent=PARENT,
        body=body,
        run_label="run-1",
        schedule_label="nightly",
        pipeline_job_id="nightly-abc" if kind == "pipeline" else None,
    )


def pools_of(body: dict[str, Any]) -> tuple[Pool, ...]:
    out = []
    for pool in body.get("jobSpec", {}).get("workerPoolSpecs", []):
        machine = pool["machineSpec"]
        count = int(machine.get("acceleratorCount", 0))
        out.append(Pool(machine["machineType"], int(pool["replicaCount"]), machine.get("acceleratorType"), count))
    return tuple(out)


@dataclass
class Scripted(FakeBackend):
    """Created jobs run (RUNNING), then end as ``ends`` says, in creation order: (state, error message or None)."""

    ends: list[tuple[str, str | None]] = field(default_factory=list)
    refuse: int = 0  # the first creates answer an allocation-quota refusal (no job)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _script: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.states = ["JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        if self.refuse:
            self.refuse -= 1
            self.calls.append("create")
            msg = f"The following quota metrics exceed quota limits: {T4_QUOTA}"
            raise QuotaExceededError(msg, code="RESOURCE_EXHAUSTED")
        job = super().create(request, timeout=timeout)
        strategy = request.body.get("jobSpec", {}).get("scheduling", {}).get("strategy")
        job = self.add(replace(job, pools=pools_of(request.body), strategy=strategy))
        self.bodies.append(request.body)
        if self.ends:
            self._script[job.name] = self.ends.pop(0)
        return job

    def get(self, name: str, *, timeout: float) -> JobView:
        before = self.jobs.get(name)
        job = super().get(name, timeout=timeout)
        if job.state == "JOB_STATE_RUNNING" and (before is None or before.start_time is None):
            job = self.add_keep(replace(job, start_time=START))
        if job.state == "JOB_STATE_SUCCEEDED" and name in self._script:
            state, message = self._script.pop(name)
            error = {"code": 8, "message": message} if message else None
            job = self.add_keep(replace(job, state=state, error=error, end_time=END))
        elif is_terminal(job.state) and job.end_time is None:
            job = self.add_keep(replace(job, end_time=END))
        return job

    def add_keep(self, job: JobView) -> JobView:
        """Replace a job's view without resetting its progress."""
        self.jobs[job.name] = job
        return job

    def made(self) -> list[JobView]:
        """The run's jobs, in creation order."""
        return [job for job in self.jobs.values() if job.labels.get("vertex-launcher-run") == "run-1"]


def launch(
    backend: FakeBackend,
    req: JobRequest | None = None,
    *,
    clock: FakeClock | None = None,
    attempts: AttemptPolicy | None = None,
    **policy: Any,
) -> RunResult:
    clock = clock or FakeClock()
    policy.setdefault("schedule", PollSchedule(initial=1, maximum=5))
    attempt_policy = attempts or AttemptPolicy(resubmit_delay=0)
    regions = ["us-central1", *attempt_policy.regions]
    run_backend = RunBackend(lambda region: backend, regions=regions, monotonic=clock.monotonic)

    def watcher(**per_attempt: Any) -> Watcher:
        return Watcher(clock=clock, rng=random.Random(7), project="p", **per_attempt)

    runner = Attempts(
        backend=run_backend, clock=clock, policy=Policy(**policy), attempts=attempt_policy, watcher=watcher
    )
    return runner.run(req or request())


def capacity(*fallbacks: dict[str, Any], on: tuple[str, ...] = ("capacity",), **extra: Any) -> AttemptPolicy:
    choices = tuple(ResubmitFallback.model_validate(choice) for choice in fallbacks)
    return AttemptPolicy(resubmit_on=frozenset(on), fallbacks=choices, resubmit_delay=0, **extra)


# --- resubmission ---


def test_a_stockout_is_resubmitted_with_the_first_fallback_and_the_exit_follows_the_last_attempt() -> None:
    """Attempt 1 fails for capacity; attempt 2 runs on the fallback's accelerator and succeeds: exit 0."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    result = launch(backend, attempts=capacity({"acceleratorType": "NVIDIA_L4", "machineType": "g2-standard-8"}))
    assert (result.outcome, result.exit_code) == (Outcome.SUCCEEDED, ExitCode.OK)
    first, second = backend.made()
    assert (first.attempt, second.attempt, second.fallback) == (1, 2, 1)
    assert second.pools == (Pool("g2-standard-8", 2, "NVIDIA_L4", 1),)
    assert result.job == second.name
    assert [(a["attempt"], a["reason"]) for a in result.details["attempts"]] == [(1, "capacity"), (2, "succeeded")]
    assert result.details["attempt"] == 2


def test_without_resubmit_on_a_stockout_fails_the_run_with_one_job() -> None:
    """RESUBMIT_ON is empty by default: the capacity failure is reported (exit 1) and nothing is resubmitted."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    result = launch(backend)
    assert (result.outcome, result.exit_code, len(backend.made())) == (Outcome.FAILED, ExitCode.JOB_FAILED, 1)
    assert result.details["attempts"][0]["reason"] == "capacity"


def test_a_failure_of_another_kind_is_never_resubmitted() -> None:
    """A job that failed in its own code (exit status 1) is not capacity trouble, whatever RESUBMIT_ON says."""
    message = "The replica workerpool0-0 exited with a non-zero status of 1."
    backend = Scripted(ends=[("JOB_STATE_FAILED", message)])
    result = launch(backend, attempts=capacity({"region": "us-east1"}, on=("capacity", "preempted")))
    assert (result.exit_code, len(backend.made())) == (ExitCode.JOB_FAILED, 1)


def test_fallbacks_are_tried_in_order_then_round_again_within_resubmit_max_attempts() -> None:
    """Four stockouts with two fallbacks: configured, fallback 1, fallback 2, configured again; then it gives up."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)] * 4)
    policy = capacity({"acceleratorType": "NVIDIA_L4"}, {"acceleratorType": "NVIDIA_A100_80GB"}, max_attempts=5)
    policy = replace(policy, resubmit_max_attempts=4)
    result = launch(backend, attempts=policy)
    made = backend.made()
    assert [job.pools[0].accelerator_type for job in made] == [
        "NVIDIA_TESLA_T4",
        "NVIDIA_L4",
        "NVIDIA_A100_80GB",
        "NVIDIA_TESLA_T4",
    ]
    assert [job.fallback for job in made] == [0, 1, 2, 0]
    assert (result.exit_code, result.details["attempt"]) == (ExitCode.JOB_FAILED, 4)


def test_a_region_fallback_submits_under_the_other_regions_parent() -> None:
    """The next attempt's parent is the fallback region; the result names the job there."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    result = launch(backend, attempts=capacity({"region": "europe-west4"}))
    assert result.job is not None
    assert result.job.startswith("projects/p/locations/europe-west4/customJobs/")
    assert result.details["attempts"][1]["region"] == "europe-west4"


def test_a_preempted_spot_job_is_resubmitted_on_standard_vms() -> None:
    """A SPOT job that ran and then failed with STOCKOUT was preempted; the fallback switches the strategy."""
    body = request()
    body.body["jobSpec"]["scheduling"] = {"strategy": "SPOT"}
    backend = Scripted(ends=[("JOB_STATE_FAILED", "STOCKOUT")])
    result = launch(backend, body, attempts=capacity({"schedulingStrategy": "STANDARD"}, on=("preempted",)))
    first, second = backend.made()
    assert (first.strategy, second.strategy, result.exit_code) == ("SPOT", "STANDARD", ExitCode.OK)
    assert result.details["attempts"][0]["reason"] == "preempted"


def test_an_allocation_quota_refusal_is_resubmitted_and_listed_as_an_attempt_without_a_job() -> None:
    """The create is refused for GPUs (no job); the fallback's accelerator has quota; attempt 2 is the job."""
    backend = Scripted(refuse=1)
    result = launch(backend, attempts=capacity({"acceleratorType": "NVIDIA_L4"}, on=("allocation-quota",)))
    [job] = backend.made()
    assert (job.attempt, job.fallback, result.exit_code) == (2, 1, ExitCode.OK)
    refused = result.details["attempts"][0]
    assert (refused["attempt"], refused["job"], refused["reason"]) == (1, None, "allocation-quota")
    assert "nvidia_t4_gpus" in refused["error"]


def test_a_quota_refusal_not_named_by_resubmit_on_fails_fast() -> None:
    """Without allocation-quota in RESUBMIT_ON the refusal is the contract's exit 1, one create, no job."""
    backend = Scripted(refuse=1)
    result = launch(backend, attempts=capacity(on=("capacity",)))
    assert (result.outcome, result.exit_code, backend.count("create")) == (Outcome.ERROR, ExitCode.JOB_FAILED, 1)


# --- resume ---


def cancelled(job_id: str, attempt: int = 1, state: str = "JOB_STATE_CANCELLED") -> JobView:
    labels = {
        "vertex-launcher-run": "run-1",
        "vertex-launcher-schedule": "nightly",
        "vertex-launcher-attempt": str(attempt),
    }
    return JobView(
        name=f"{PARENT}/customJobs/{job_id}", state=state, labels=labels, create_time=f"2026-01-0{attempt}T00:00:00Z"
    )


def test_a_pod_that_finds_the_latest_attempt_cancelled_resumes_with_the_next_attempt() -> None:
    """The stopped pod's cancel-on-stop left attempt 1 CANCELLED: the replacement submits attempt 2 (same spec)."""
    backend = Scripted()
    backend.add(cancelled("old"))
    result = launch(backend)
    assert (result.outcome, result.exit_code) == (Outcome.SUCCEEDED, ExitCode.OK)
    new = backend.made()[-1]
    assert (new.attempt, new.fallback, backend.count("create")) == (2, 0, 1)
    assert [a["reason"] for a in result.details["attempts"]] == ["stopped", "succeeded"]


def test_a_cancelling_attempt_found_on_reattach_is_watched_to_its_end_then_resumed() -> None:
    """Vertex's cancel takes a while: CANCELLING at reattach still means the earlier pod asked for it."""
    backend = Scripted()
    backend.add(cancelled("old", state="JOB_STATE_CANCELLING"))
    result = launch(backend)
    assert backend.jobs[f"{PARENT}/customJobs/old"].state == "JOB_STATE_CANCELLED"
    assert (result.exit_code, backend.made()[-1].attempt) == (ExitCode.OK, 2)


def test_a_job_cancelled_while_this_pod_watched_it_stays_a_failure() -> None:
    """Someone else cancels the job this pod is watching: exit 1, and no second job."""
    backend = Scripted(ends=[("JOB_STATE_CANCELLED", None)])
    result = launch(backend)
    assert (result.outcome, result.exit_code, len(backend.made())) == (Outcome.CANCELLED, ExitCode.JOB_FAILED, 1)


def test_a_job_this_pod_made_cancelled_before_its_lookup_saw_it_stays_a_failure() -> None:
    """An ambiguous create made the job, someone cancels it, then the lookup finds it CANCELLED: not a resume.

    Found by ``make chaos`` (seed 1, schedule 251): the first-seen state alone would call this a stopped pod's cancel.
    """
    backend = Scripted()

    def cancel_at_once(job: JobView) -> None:
        backend.add_keep(replace(job, state="JOB_STATE_CANCELLED"))

    backend.on_create = cancel_at_once
    backend.failures["create"] = [TransientApiError("Deadline Exceeded", code="DEADLINE_EXCEEDED", ambiguous=True)]
    result = launch(backend)
    assert (result.outcome, result.exit_code, len(backend.made())) == (Outcome.CANCELLED, ExitCode.JOB_FAILED, 1)


def test_in_detach_mode_a_cancelled_latest_attempt_is_reported_not_resumed() -> None:
    """ON_TERMINATE=detach never cancels on a stop, so a CANCELLED job is someone else's doing: exit 1."""
    backend = Scripted()
    backend.add(cancelled("old"))
    result = launch(backend, attempts=AttemptPolicy(resume=False), on_terminate="detach")
    assert (result.exit_code, backend.count("create")) == (ExitCode.JOB_FAILED, 0)


def test_max_attempts_bounds_resumes() -> None:
    """The latest attempt is already the MAX_ATTEMPTS-th: its cancel is reported (exit 1), nothing submitted."""
    backend = Scripted()
    backend.add(cancelled("a1", 1))
    backend.add(cancelled("a3", 3))
    result = launch(backend, attempts=AttemptPolicy(max_attempts=3))
    assert (result.exit_code, backend.count("create")) == (ExitCode.JOB_FAILED, 0)
    assert result.job == f"{PARENT}/customJobs/a3"


def test_reattach_follows_the_latest_attempt_not_the_newest_create_time() -> None:
    """Attempt numbers order a run's jobs: attempt 2 is followed even if clocks made attempt 1 look newer."""
    backend = Scripted()
    older = replace(cancelled("a2", 2), state="JOB_STATE_RUNNING", create_time="2025-01-01T00:00:00Z")
    backend.add(cancelled("a1", 1))
    backend.add(older)
    result = launch(backend)
    assert (result.job, result.exit_code, backend.count("create")) == (older.name, ExitCode.OK, 0)


def test_a_stopped_pod_exits_143_and_the_next_pod_resumes_with_attempt_2() -> None:
    """SIGTERM while watching: cancel, 143, no next attempt in that pod; the replacement pod resumes."""
    backend = Scripted()
    backend.states = ["JOB_STATE_RUNNING"] * 50 + ["JOB_STATE_SUCCEEDED"]
    clock = FakeClock()
    clock.stop_at(5.0)
    stopped = launch(backend, clock=clock)
    assert (stopped.exit_code, len(backend.made())) == (ExitCode.TERMINATED, 1)
    assert stopped.details["attempts"][0]["reason"] == "stopped"
    assert stopped.details["usage"]["counted_attempts"] == []  # the pod that resumes settles attempt 1
    backend.states = ["JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    resumed = launch(backend)
    assert (resumed.exit_code, [job.attempt for job in backend.made()]) == (ExitCode.OK, [1, 2])
    assert resumed.details["usage"]["counted_attempts"] == [1, 2]


def test_the_next_attempt_waits_for_no_one_but_never_overlaps_another_run_under_forbid_or_replace() -> None:
    """A newer run of the schedule is active: the resumed run does not submit (nor replace it) and reports its last."""
    backend = Scripted()
    backend.add(cancelled("old"))
    newer = JobView(
        name=f"{PARENT}/customJobs/newer",
        state="JOB_STATE_RUNNING",
        labels={"vertex-launcher-run": "run-2", "vertex-launcher-schedule": "nightly"},
    )
    backend.add(newer)
    for policy in ("Forbid", "Replace"):
        result = launch(backend, concurrency=policy)
        assert (result.outcome, result.exit_code, backend.count("create")) == (
            Outcome.CANCELLED,
            ExitCode.JOB_FAILED,
            0,
        )
        assert result.details["resubmit_skipped"]["blocking_jobs"] == [newer.name]
        assert backend.jobs[newer.name].state == "JOB_STATE_RUNNING"
    allowed = launch(backend, concurrency="Allow")
    assert (allowed.exit_code, backend.count("create")) == (ExitCode.OK, 1)


def test_a_pipeline_attempt_has_its_own_deterministic_id() -> None:
    """Attempt N of a PipelineJob is <id>-aN, so a duplicate create of the same attempt still answers ALREADY_EXISTS."""
    base = request(kind="pipeline")
    assert attempt_request(base, 1, 0, ()).pipeline_job_id == "nightly-abc"
    assert attempt_request(base, 3, 0, ()).pipeline_job_id == "nightly-abc-a3"


# --- time and stops between attempts ---


def test_a_stop_during_the_resubmission_delay_exits_143_naming_the_failed_attempt() -> None:
    """SIGTERM while waiting RESUBMIT_DELAY_SECONDS: nothing to cancel, exit 143; the next pod decides again."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    clock = FakeClock()
    clock.stop_at(30.0)
    result = launch(backend, clock=clock, attempts=replace(capacity(), resubmit_delay=60))
    assert (result.outcome, result.exit_code, len(backend.made())) == (Outcome.CANCELLED, ExitCode.TERMINATED, 1)
    assert result.job == backend.made()[0].name
    again = launch(backend, attempts=capacity())
    assert (again.exit_code, [job.attempt for job in backend.made()]) == (ExitCode.OK, [1, 2])


def test_timeout_seconds_bounds_all_attempts_together() -> None:
    """Attempt 1 used most of TIMEOUT_SECONDS; attempt 2 is cancelled when the rest runs out: exit 4."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    backend.states = ["JOB_STATE_RUNNING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]  # ~20 s per attempt
    result = launch(backend, attempts=capacity(), timeout=30.0, schedule=PollSchedule(initial=8, maximum=8))
    assert (result.outcome, result.exit_code) == (Outcome.TIMEOUT, ExitCode.TIMEOUT)
    assert [job.state for job in backend.made()][-1] == "JOB_STATE_CANCELLED"


# --- classification, requests, usage ---


@pytest.mark.parametrize(
    ("state", "message", "strategy", "started", "expected"),
    [
        ("JOB_STATE_FAILED", STOCKOUT, None, False, "capacity"),
        (
            "JOB_STATE_FAILED",
            ZONE,
            None,
            False,
            "capacity",
        ),
        ("JOB_STATE_FAILED", "ZONE_RESOURCE_POOL_EXHAUSTED", None, False, "capacity"),
        ("JOB_STATE_FAILED", "STOCKOUT", "SPOT", False, "capacity"),
        ("JOB_STATE_FAILED", "STOCKOUT", "SPOT", True, "preempted"),
        ("JOB_STATE_FAILED", "STOCKOUT", None, True, "capacity"),
        ("JOB_STATE_FAILED", "The VM was preempted.", "SPOT", True, "preempted"),
        ("JOB_STATE_FAILED", "The replica workerpool0-0 exited with a non-zero status of 1.", "SPOT", True, None),
        ("JOB_STATE_FAILED", "Internal error occurred for the current attempt.", None, True, None),
        ("JOB_STATE_EXPIRED", STOCKOUT, None, False, None),
        ("JOB_STATE_CANCELLED", "CANCELED", None, True, None),
        ("PIPELINE_STATE_FAILED", STOCKOUT, None, False, "capacity"),
    ],
)
def test_capacity_failures_are_told_from_everything_else(
    state: str, message: str, strategy: str | None, started: bool, expected: str | None
) -> None:
    """Only a FAILED job whose error names a stockout (or a preemption) is capacity trouble."""
    job = JobView(name=f"{PARENT}/customJobs/1", state=state, error={"code": 8, "message": message}, strategy=strategy)
    assert classify(replace(job, start_time=START if started else None)) == expected


def test_a_fallback_changes_a_deep_copy_and_reads_snake_case_specs() -> None:
    """The base request is untouched; snake_case keys from a spec file are replaced, not duplicated."""
    base = request(
        machine={"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
    )
    choice = ResubmitFallback.model_validate({"acceleratorCount": 0, "machineType": "c2-standard-60"})
    changed = attempt_request(base, 2, 1, (choice,))
    assert changed.body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"] == {"machineType": "c2-standard-60"}
    assert base.body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["machine_type"] == "n1-standard-8"
    assert changed.body["labels"]["vertex-launcher-attempt"] == "2"
    assert base.body["labels"]["vertex-launcher-attempt"] == "1"


def test_a_fallback_naming_a_worker_pool_the_job_lacks_is_a_config_error() -> None:
    """workerPools [2] on a one-pool job names the setting and the index."""
    choice = ResubmitFallback.model_validate({"machineType": "g2-standard-8", "workerPools": [2]})
    with pytest.raises(ConfigError, match=r"RESUBMIT_FALLBACKS\[0\]\.workerPools: the job has no worker pool 2"):
        attempt_request(request(), 2, 1, (choice,))


def test_usage_is_replicas_times_runtime_by_machine_and_accelerator_type() -> None:
    """Two replicas with one T4 each for an hour: 7200 machine-seconds of n1-standard-8 and 7200 T4-seconds."""
    backend = Scripted(ends=[("JOB_STATE_FAILED", STOCKOUT)])
    result = launch(backend, attempts=capacity({"acceleratorType": "NVIDIA_L4", "machineType": "g2-standard-8"}))
    usage = result.details["usage"]
    assert usage["machine_seconds"] == {"g2-standard-8": 7200.0, "n1-standard-8": 7200.0}
    assert usage["accelerator_seconds"] == {"NVIDIA_L4": 7200.0, "NVIDIA_TESLA_T4": 7200.0}
    assert usage["accelerator_seconds_total"] == 14400.0
    assert result.details["attempts"][0]["accelerator_seconds"] == 7200.0
