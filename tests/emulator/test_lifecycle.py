"""The simulated lifecycle: phases from the clock, cancel, forced states, and the scaled clock itself."""

from __future__ import annotations

import pytest

from vertex_launcher.emulator.lifecycle import SimClock, Timeline


def timeline(**overrides: float | str) -> Timeline:
    values: dict[str, float | str] = {"created": 100.0, "queued": 1.0, "pending": 2.0, "run": 10.0}
    values.update(overrides)
    return Timeline(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("t", "state"),
    [
        (100.0, "QUEUED"),
        (100.9, "QUEUED"),
        (101.0, "PENDING"),
        (103.0, "RUNNING"),
        (112.9, "RUNNING"),
        (113, "SUCCEEDED"),
    ],
)
def test_a_job_moves_through_queued_pending_running_to_its_outcome(t: float, state: str) -> None:
    """Phase boundaries are the configured durations, in simulated seconds."""
    assert timeline().at(t).state == state


def test_a_finished_job_has_start_and_end_times_from_its_phases() -> None:
    """start = entering RUNNING; end = reaching the outcome."""
    snap = timeline(outcome="FAILED").at(500.0)
    assert (snap.state, snap.started, snap.ended, snap.updated) == ("FAILED", 103.0, 113.0, 113.0)


def test_cancel_goes_through_cancelling_to_cancelled_after_the_delay() -> None:
    """A cancel during RUNNING: CANCELLING until cancel_delay has passed, then CANCELLED."""
    line = timeline(cancel_delay=5.0)
    line.cancel_requested = 105.0
    assert line.at(104.0).state == "RUNNING"
    assert line.at(106.0).state == "CANCELLING"
    cancelled = line.at(110.0)
    assert (cancelled.state, cancelled.started, cancelled.ended) == ("CANCELLED", 103.0, 110.0)


def test_a_cancel_recorded_after_the_natural_end_changes_nothing() -> None:
    """Terminal states are final."""
    line = timeline()
    line.cancel_requested = 200.0
    assert line.at(300.0).state == "SUCCEEDED"


def test_a_forced_state_holds_from_the_moment_it_was_forced() -> None:
    """Forcing RUNNING pins the job there; forcing FAILED ends it at that moment."""
    line = timeline()
    line.forced_state, line.forced_at = "RUNNING", 100.5
    assert line.at(100.4).state == "QUEUED"
    assert line.at(10_000.0).state == "RUNNING"
    line.forced_state, line.forced_at = "FAILED", 150.0
    failed = line.at(151.0)
    assert (failed.state, failed.ended) == ("FAILED", 150.0)


def test_the_clock_runs_scaled_and_a_scale_change_does_not_jump() -> None:
    """sim = start + elapsed × scale; set_scale re-anchors at the current simulated time."""
    now = [10.0]
    clock = SimClock(scale=100.0, start=5.0, wall_origin=1_000.0, monotonic=lambda: now[0])
    now[0] = 10.5
    assert clock.now() == pytest.approx(55.0)
    clock.set_scale(1.0)
    assert clock.now() == pytest.approx(55.0)
    now[0] = 12.5
    assert clock.now() == pytest.approx(57.0)
    assert clock.wall(57.0) == pytest.approx(1_057.0)


def test_a_cancel_that_comes_too_late_loses_the_race_and_the_job_ends_on_its_own() -> None:
    """Cancel 1 s before the natural end with a 5 s cancel delay: CANCELLING, then SUCCEEDED (or FAILED) anyway."""
    line = timeline(cancel_delay=5.0)
    line.cancel_requested = 112.0  # the job would end at 113
    assert line.at(112.5).state == "CANCELLING"
    ended = line.at(120.0)
    assert (ended.state, ended.ended) == ("SUCCEEDED", 113.0)
    failing = timeline(cancel_delay=5.0, outcome="FAILED")
    failing.cancel_requested = 112.0
    assert failing.at(120.0).state == "FAILED"
