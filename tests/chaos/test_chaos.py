"""The fault-injection suite: seeded schedules against private emulators, every invariant checked after each one.

The fast subset (one schedule of each event; ``CHAOS_FAST_SEED`` and ``CHAOS_FAST_SCHEDULES`` change it) runs in
``make test``; ``make chaos`` runs the full campaign through ``scripts/chaos.py``. ``-m chaos`` selects the suite.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.chaos.oracle import check
from tests.chaos.runner import Launch, Observation, repro_command, run_campaign
from tests.chaos.schedule import EVENTS, NEEDS_CREATE, NEEDS_WATCH, generate

pytestmark = pytest.mark.chaos

#: The fast subset's campaign seed (``make chaos`` defaults to seed 1, so the two check different schedules).
FAST_SEED = int(os.environ.get("CHAOS_FAST_SEED", "20261130"))
FAST_SCHEDULES = int(os.environ.get("CHAOS_FAST_SCHEDULES", str(len(EVENTS))))
#: Emulator+launcher pairs at a time: the work is mostly waiting, so more pairs than cores pay off.
FAST_PARALLEL = 4


def result_line(outcome: str, exit_code: int, job: str | None = None, state: str | None = None) -> str:
    record = {"message": "run finished", "outcome": outcome, "job": job, "state": state, "exit_code": exit_code}
    return json.dumps(record | {"duration_seconds": 1.0, "console_url": None})


def test_a_seed_and_an_index_always_give_the_same_schedule() -> None:
    """Schedules are reproducible: generating one twice gives the same schedule and the same fault rules."""
    for index in range(50):
        assert generate(7, index) == generate(7, index)
        assert generate(7, index).rules() == generate(7, index).rules()
    assert [generate(7, i) for i in range(50)] != [generate(8, i) for i in range(50)]


def test_any_run_of_consecutive_schedules_covers_every_event() -> None:
    """The event is round-robin over the index, so the fast subset and every full run meet each event."""
    assert {generate(3, i).event for i in range(100, 100 + len(EVENTS))} == set(EVENTS)


def test_every_schedule_can_reach_the_moment_of_its_event() -> None:
    """No impossible mix: Forbid never blocks a run that must create, WAIT=false never meets a watching event."""
    for index in range(600):
        schedule = generate(1, index)
        assert not (schedule.event in NEEDS_CREATE and schedule.blocked), schedule.describe()
        assert schedule.wait or schedule.event not in NEEDS_WATCH, schedule.describe()


def test_the_oracle_flags_a_job_left_running_after_sigterm_in_cancel_mode() -> None:
    """A run that exits 143 but leaves its job RUNNING breaks the cancel invariant (the oracle is not vacuous)."""
    schedule = next(s for s in (generate(1, i) for i in range(200)) if s.event == "sigterm-watching")
    schedule = replace(schedule, on_terminate="cancel", earlier="none")
    job = "projects/demo/locations/us-central1/customJobs/1"
    line = result_line("cancelled", 143, job, "JOB_STATE_RUNNING")
    launch = Launch(
        role="run", exit_code=143, stdout=line, stderr="", wall_seconds=1.0, termination_message=line, signal="SIGTERM"
    )
    labels = {"vertex-launcher-run": schedule.run_key}
    obs = Observation(
        schedule=schedule, launches=[launch], jobs=[{"name": job, "state": "JOB_STATE_RUNNING", "labels": labels}]
    )
    assert [v.invariant for v in check(obs)] == ["cancel-on-stop"]


def test_the_oracle_flags_a_second_job_and_a_wrong_exit_code() -> None:
    """Two jobs for one run key and exit 0 for a failed job are both violations."""
    schedule = generate(1, 0)
    schedule = replace(schedule, wait=True, outcome="failed", earlier="none")
    labels = {"vertex-launcher-run": schedule.run_key}
    jobs = [{"name": f"j{i}", "state": "JOB_STATE_FAILED", "labels": labels} for i in (1, 2)]
    line = result_line("succeeded", 0, "j1", "JOB_STATE_FAILED")
    launch = Launch(role="run", exit_code=0, stdout=line, stderr="", wall_seconds=1.0, termination_message=line)
    invariants = {v.invariant for v in check(Observation(schedule=schedule, launches=[launch], jobs=jobs))}
    assert invariants == {"job-count", "exit-code", "attempts"}


def test_the_oracle_flags_two_attempts_of_a_run_active_at_once() -> None:
    """A resumed run whose attempt 2 was created while attempt 1 still ran breaks the attempts invariant."""
    schedule = next(s for s in (generate(1, i) for i in range(200)) if s.event == "stockout" and s.resubmit)
    schedule = replace(schedule, everywhere=False, outcome="succeeded", earlier="none")
    region = "projects/demo/locations"
    line = result_line("succeeded", 0, f"{region}/europe-west4/customJobs/2", "JOB_STATE_SUCCEEDED")
    launch = Launch(role="run", exit_code=0, stdout=line, stderr="", wall_seconds=1.0, termination_message=line)
    base = {"vertex-launcher-run": schedule.run_key}
    jobs = [
        {
            "name": f"{region}/europe-west4/customJobs/2",
            "state": "JOB_STATE_SUCCEEDED",
            "labels": base | {"vertex-launcher-attempt": "2"},
            "create_time": "2026-01-01T00:00:10Z",
            "end_time": "2026-01-01T00:01:00Z",
        },
        {
            "name": f"{region}/us-central1/customJobs/1",
            "state": "JOB_STATE_FAILED",
            "labels": base | {"vertex-launcher-attempt": "1"},
            "create_time": "2026-01-01T00:00:00Z",
            "end_time": "2026-01-01T00:00:20Z",
        },
    ]
    assert [v.invariant for v in check(Observation(schedule=schedule, launches=[launch], jobs=jobs))] == ["attempts"]


@pytest.mark.timeout(900)
def test_a_fast_campaign_breaks_no_invariant(tmp_path: Path) -> None:
    """One schedule of every event (faults, SIGTERM/SIGKILL at each phase, restart, outage, quota): no violation."""
    campaign = run_campaign(seed=FAST_SEED, indices=list(range(FAST_SCHEDULES)), parallel=FAST_PARALLEL, root=tmp_path)
    failures = [
        f"{report.schedule.describe()}\n    "
        + "\n    ".join([*map(str, report.violations), *report.observation.harness_errors])
        + f"\n    replay: {repro_command(FAST_SEED, report.schedule.index)}\n    outputs: {report.workdir}"
        for report in campaign.violations
    ]
    assert len(campaign.reports) == FAST_SCHEDULES
    assert not failures, "\n".join(failures)
