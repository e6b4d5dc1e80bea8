"""The watch loop as a specification: reattach, concurrency, submit, poll, stop — fake backend, virtual time."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.fakes import FakeBackend
from vertex_launcher.clock import FakeClock
from vertex_launcher.errors import AuthError, TransientApiError
from vertex_launcher.jobs import JobRequest, JobView
from vertex_launcher.poll import PollSchedule
from vertex_launcher.result import ExitCode, Outcome, RunResult
from vertex_launcher.watch import Policy, Watcher

PARENT = "projects/p/locations/us-central1"


def request(run: str = "run-1", schedule: str = "nightly", kind: str = "custom") -> JobRequest:
    labels = {"vertex-launcher-run": run, "vertex-launcher-schedule": schedule}
    return JobRequest(
        kind=kind,  # type: ignore[arg-type]
        parent=PARENT,
        body={"displayName": "nightly-1", "labels": labels},
        run_label=run,
        schedule_label=schedule,
        pipeline_job_id="nightly-abc" if kind == "pipeline" else None,
    )


def existing(job_id: str, state: str, run: str, schedule: str = "nightly") -> JobView:
    return JobView(
        name=f"{PARENT}/customJobs/{job_id}",
        state=state,
        labels={"vertex-launcher-run": run, "vertex-launcher-schedule": schedule},
    )


def ignore_cancel(name: str, *, timeout: float) -> None:
    """A cancel that Vertex accepts and then ignores."""


def launch(
    backend: FakeBackend, clock: FakeClock | None = None, req: JobRequest | None = None, **policy: Any
) -> RunResult:
    watcher = Watcher(
        backend=backend,
        clock=clock or FakeClock(),
        policy=Policy(**policy),
        rng=random.Random(7),
        project="p",
    )
    return watcher.run(req or request())


def test_a_successful_job_is_created_once_and_reported_with_exit_0() -> None:
    """Submit, poll to SUCCEEDED, exit 0, with the console URL of the job."""
    backend = FakeBackend()
    result = launch(backend)
    assert (result.outcome, result.exit_code, result.state) == (Outcome.SUCCEEDED, ExitCode.OK, "JOB_STATE_SUCCEEDED")
    assert backend.count("create") == 1
    assert (
        result.console_url
        == "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/1/cpu?project=p"
    )


@pytest.mark.parametrize(
    ("final", "outcome"),
    [
        ("JOB_STATE_FAILED", Outcome.FAILED),
        ("JOB_STATE_CANCELLED", Outcome.CANCELLED),
        ("JOB_STATE_EXPIRED", Outcome.FAILED),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", Outcome.FAILED),
    ],
)
def test_every_unsuccessful_terminal_state_exits_1(final: str, outcome: Outcome) -> None:
    """FAILED, CANCELLED by someone else, EXPIRED and PARTIALLY_SUCCEEDED are all exit 1."""
    result = launch(FakeBackend(states=["JOB_STATE_RUNNING", final]))
    assert (result.outcome, result.exit_code) == (outcome, ExitCode.JOB_FAILED)


def test_paused_is_not_terminal() -> None:
    """A PAUSED job is watched on until it ends."""
    result = launch(
        FakeBackend(states=["JOB_STATE_RUNNING", "JOB_STATE_PAUSED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"])
    )
    assert result.outcome is Outcome.SUCCEEDED


def test_a_retried_pod_reattaches_instead_of_submitting_again() -> None:
    """A running job with this run's label is watched; nothing new is created."""
    backend = FakeBackend()
    backend.add(existing("41", "JOB_STATE_RUNNING", "run-1"))
    result = launch(backend)
    assert backend.count("create") == 0
    assert result.job == f"{PARENT}/customJobs/41"
    assert result.details["reattached"] is True


def test_a_retried_pod_reports_a_job_that_already_ended() -> None:
    """A finished job with this run's label is reported as it ended, never resubmitted."""
    backend = FakeBackend()
    backend.add(existing("41", "JOB_STATE_FAILED", "run-1"))
    result = launch(backend)
    assert (backend.count("create"), result.exit_code) == (0, ExitCode.JOB_FAILED)


def test_forbid_skips_the_run_while_an_earlier_run_is_active() -> None:
    """CONCURRENCY_POLICY=Forbid: outcome skipped, exit 0, the blocking job named, nothing created."""
    backend = FakeBackend()
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    result = launch(backend, concurrency="Forbid")
    assert (result.outcome, result.exit_code, backend.count("create")) == (Outcome.SKIPPED, ExitCode.OK, 0)
    assert result.details["blocking_jobs"] == [f"{PARENT}/customJobs/7"]


def test_replace_cancels_the_earlier_run_then_submits() -> None:
    """CONCURRENCY_POLICY=Replace: the earlier job is cancelled and has left RUNNING before the create."""
    backend = FakeBackend()
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    result = launch(backend, concurrency="Replace")
    assert backend.jobs[f"{PARENT}/customJobs/7"].state == "JOB_STATE_CANCELLED"
    assert backend.calls.index("cancel") < backend.calls.index("create")
    assert result.outcome is Outcome.SUCCEEDED


def test_replace_stops_with_exit_3_when_the_earlier_run_may_not_be_cancelled() -> None:
    """CONCURRENCY_POLICY=Replace and a refused cancel: exit 3, nothing submitted on top of the earlier job."""
    backend = FakeBackend(failures={"cancel": [AuthError("denied", code="PERMISSION_DENIED")]})
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    result = launch(backend, concurrency="Replace")
    assert (result.outcome, result.exit_code, backend.count("create")) == (Outcome.ERROR, ExitCode.AUTH, 0)


def test_replace_asks_again_when_the_cancel_of_the_earlier_run_was_lost() -> None:
    """CONCURRENCY_POLICY=Replace, and the first cancel requests fail with UNAVAILABLE: asked again before creating."""
    backend = FakeBackend(
        states=["JOB_STATE_RUNNING"] * 1000,
        failures={"cancel": [TransientApiError("down", code="UNAVAILABLE") for _ in range(4)]},
    )
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    result = launch(backend, concurrency="Replace", wait=False)
    assert backend.jobs[f"{PARENT}/customJobs/7"].state == "JOB_STATE_CANCELLED"
    assert backend.count("cancel") == 5
    last_cancel = max(i for i, call in enumerate(backend.calls) if call == "cancel")
    assert last_cancel < backend.calls.index("create")
    assert result.outcome is Outcome.SUBMITTED


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
def test_a_stop_during_the_reattach_lookup_leaves_the_earlier_run_alone(policy: str) -> None:
    """SIGTERM while looking for this run's job: exit 143, no skip, no cancel of the earlier job, nothing created."""
    clock = FakeClock()
    backend = FakeBackend()
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    lookup = backend.find_run

    def find_run_then_stop(req: JobRequest, *, timeout: float) -> list[JobView]:
        clock.stop_at(clock.elapsed)
        return lookup(req, timeout=timeout)

    backend.find_run = find_run_then_stop  # type: ignore[method-assign,assignment]
    result = launch(backend, clock, concurrency=policy)
    assert (result.outcome, result.exit_code) == (Outcome.CANCELLED, ExitCode.TERMINATED)
    assert (backend.count("cancel"), backend.count("create")) == (0, 0)


def test_allow_does_not_look_at_other_runs() -> None:
    """CONCURRENCY_POLICY=Allow makes no list call for the schedule."""
    backend = FakeBackend()
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    launch(backend, concurrency="Allow")
    assert backend.count("list_active") == 0


def test_wait_false_submits_exactly_once_and_exits_0() -> None:
    """WAIT=false: one create, no GET, outcome submitted."""
    backend = FakeBackend()
    result = launch(backend, wait=False)
    assert (result.outcome, result.exit_code) == (Outcome.SUBMITTED, ExitCode.OK)
    assert (backend.count("create"), backend.count("get")) == (1, 0)


def test_an_ambiguous_create_is_followed_by_a_lookup_not_a_second_create() -> None:
    """DEADLINE_EXCEEDED after the job was made: the lookup finds it and the run follows it."""
    backend = FakeBackend(
        failures={"create": [TransientApiError("deadline", code="DEADLINE_EXCEEDED", ambiguous=True)]}
    )
    result = launch(backend)
    assert backend.count("create") == 1
    assert (len(backend.jobs), result.outcome) == (1, Outcome.SUCCEEDED)


def test_a_create_that_never_reached_vertex_is_retried_after_the_lookup() -> None:
    """UNAVAILABLE before anything was made: look, find nothing, create again — one job in the end."""
    backend = FakeBackend()
    original = backend.create
    failures = [TransientApiError("down", code="UNAVAILABLE", ambiguous=True)]

    def flaky_create(req: JobRequest, *, timeout: float) -> JobView:
        if failures:
            backend.calls.append("create")
            raise failures.pop()
        return original(req, timeout=timeout)

    backend.create = flaky_create  # type: ignore[method-assign,assignment]
    result = launch(backend)
    assert backend.count("create") == 2
    assert (len(backend.jobs), result.outcome) == (1, Outcome.SUCCEEDED)


def test_a_rate_limited_create_without_retry_info_backs_off_on_its_own() -> None:
    """Vertex documents no RetryInfo on its quota errors: the launcher's own jittered exponential backoff paces the
    retries (attempt n waits between half and all of initial x 2^n), and exactly one job is made."""
    clock = FakeClock()
    backend = FakeBackend()
    original = backend.create
    refusals = [TransientApiError("rate limited", code="RESOURCE_EXHAUSTED") for _ in range(3)]

    def rate_limited_create(req: JobRequest, *, timeout: float) -> JobView:
        if refusals:
            backend.calls.append("create")
            raise refusals.pop()
        return original(req, timeout=timeout)

    backend.create = rate_limited_create  # type: ignore[method-assign,assignment]
    result = launch(backend, clock)
    assert (result.outcome, backend.count("create"), len(backend.jobs)) == (Outcome.SUCCEEDED, 4, 1)
    initial = PollSchedule().initial
    for attempt, pause in enumerate(clock.sleeps[:3]):
        ceiling = initial * 2**attempt
        assert ceiling / 2 <= pause <= ceiling


def test_transient_get_errors_are_retried_with_the_servers_retry_delay() -> None:
    """UNAVAILABLE and a rate limit with RetryInfo on GET are retried; the pause honours the server's 30 s."""
    clock = FakeClock()
    backend = FakeBackend(
        failures={
            "get": [
                TransientApiError("down", code="UNAVAILABLE"),
                TransientApiError("slow down", code="RESOURCE_EXHAUSTED", retry_after=30.0),
            ]
        }
    )
    result = launch(backend, clock)
    assert result.outcome is Outcome.SUCCEEDED
    assert any(s >= 30.0 for s in clock.sleeps)


def test_transient_errors_that_outlast_the_budget_exit_5() -> None:
    """Transient trouble longer than TRANSIENT_RETRY_SECONDS ends with exit 5 and names the job."""
    backend = FakeBackend(failures={"get": [TransientApiError("down", code="UNAVAILABLE") for _ in range(100)]})
    result = launch(backend, transient_budget=120.0)
    assert (result.outcome, result.exit_code) == (Outcome.ERROR, ExitCode.TRANSIENT)
    assert result.job is not None


def test_permission_denied_exits_3() -> None:
    """An auth error from the API ends the run with exit 3."""
    backend = FakeBackend(failures={"find_run": [AuthError("denied", code="PERMISSION_DENIED")]})
    assert launch(backend).exit_code == ExitCode.AUTH


def test_timeout_cancels_the_job_and_exits_4() -> None:
    """TIMEOUT_SECONDS with ON_TERMINATE=cancel: the job is cancelled and confirmed; exit 4."""
    backend = FakeBackend(states=["JOB_STATE_RUNNING"] * 1000)
    result = launch(backend, timeout=300.0)
    assert (result.outcome, result.exit_code) == (Outcome.TIMEOUT, ExitCode.TIMEOUT)
    assert result.details["cancel_confirmed"] is True
    assert backend.count("cancel") == 1


def test_timeout_with_detach_leaves_the_job_running_and_exits_4() -> None:
    """TIMEOUT_SECONDS with ON_TERMINATE=detach: no cancel; exit 4."""
    backend = FakeBackend(states=["JOB_STATE_RUNNING"] * 1000)
    result = launch(backend, timeout=300.0, on_terminate="detach")
    assert (result.outcome, result.exit_code, backend.count("cancel")) == (Outcome.TIMEOUT, ExitCode.TIMEOUT, 0)


def test_sigterm_while_watching_cancels_and_exits_143() -> None:
    """A stop while watching: cancel requested, CANCELLING/CANCELLED observed, exit 143, never success."""
    clock = FakeClock()
    clock.stop_at(100.0)
    backend = FakeBackend(states=["JOB_STATE_RUNNING"] * 1000)
    result = launch(backend, clock)
    assert (result.outcome, result.exit_code) == (Outcome.CANCELLED, ExitCode.TERMINATED)
    assert result.details["cancel_confirmed"] is True
    assert result.details["stopped_by"] == "SIGTERM"


def test_sigterm_with_detach_names_the_job_and_exits_143() -> None:
    """ON_TERMINATE=detach: the job keeps running; the result names it; exit 143."""
    clock = FakeClock()
    clock.stop_at(100.0)
    backend = FakeBackend(states=["JOB_STATE_RUNNING"] * 1000)
    result = launch(backend, clock, on_terminate="detach")
    assert (result.outcome, result.exit_code, backend.count("cancel")) == (Outcome.DETACHED, ExitCode.TERMINATED, 0)
    assert result.job is not None


def test_sigterm_before_create_submits_nothing() -> None:
    """A stop that arrives before the create: no job, exit 143."""
    clock = FakeClock()
    clock.stop_at(0.0)
    backend = FakeBackend()
    result = launch(backend, clock)
    assert (backend.count("create"), result.exit_code) == (0, ExitCode.TERMINATED)


def test_sigterm_during_create_cancels_the_job_that_create_made() -> None:
    """The signal lands while create is in flight: the job it made is cancelled."""
    clock = FakeClock()
    backend = FakeBackend(on_create=lambda job: clock.stop_at(clock.elapsed))
    result = launch(backend, clock)
    assert result.exit_code == ExitCode.TERMINATED
    assert next(iter(backend.jobs.values())).state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_sigterm_during_an_ambiguous_create_still_cancels_the_job() -> None:
    """The create failed ambiguously and a stop came: the job is looked up and cancelled."""
    clock = FakeClock()
    backend = FakeBackend(
        on_create=lambda job: clock.stop_at(clock.elapsed),
        failures={"create": [TransientApiError("deadline", code="DEADLINE_EXCEEDED", ambiguous=True)]},
    )
    result = launch(backend, clock)
    assert result.exit_code == ExitCode.TERMINATED
    assert next(iter(backend.jobs.values())).state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_the_lookup_after_an_interrupted_create_outlasts_transient_errors() -> None:
    """A stop during an ambiguous create, then UNAVAILABLE on the lookup: it is retried and the job still cancelled."""
    clock = FakeClock()
    backend = FakeBackend(
        failures={"create": [TransientApiError("deadline", code="DEADLINE_EXCEEDED", ambiguous=True)]},
    )

    def stop_and_break_the_lookup(job: JobView) -> None:
        clock.stop_at(clock.elapsed)
        backend.failures["find_run"] = [TransientApiError("down", code="UNAVAILABLE") for _ in range(2)]

    backend.on_create = stop_and_break_the_lookup
    result = launch(backend, clock, cancel_grace=20.0)
    [job] = backend.jobs.values()
    assert (result.exit_code, result.job, result.details["cancel_confirmed"]) == (ExitCode.TERMINATED, job.name, True)
    assert job.state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert clock.elapsed <= 20.0 + 2.0


def test_sigterm_with_detach_during_an_ambiguous_create_names_the_job_it_made() -> None:
    """ON_TERMINATE=detach, a stop during a create that made the job but failed: the result names that job."""
    clock = FakeClock()
    backend = FakeBackend(
        on_create=lambda job: clock.stop_at(clock.elapsed),
        failures={"create": [TransientApiError("deadline", code="DEADLINE_EXCEEDED", ambiguous=True)]},
    )
    result = launch(backend, clock, on_terminate="detach")
    [job] = backend.jobs.values()
    assert (result.outcome, result.exit_code, result.job) == (Outcome.DETACHED, ExitCode.TERMINATED, job.name)
    assert (backend.count("cancel"), job.state) == (0, "JOB_STATE_QUEUED")


def test_a_cancel_lost_to_transient_errors_is_asked_again_within_the_grace_budget() -> None:
    """A stop, and the first cancel requests all fail with UNAVAILABLE: the cancel is asked again and confirmed."""
    clock = FakeClock()
    clock.stop_at(100.0)
    backend = FakeBackend(
        states=["JOB_STATE_RUNNING"] * 1000,
        failures={"cancel": [TransientApiError("down", code="UNAVAILABLE") for _ in range(4)]},
    )
    result = launch(backend, clock)
    assert (result.exit_code, result.details["cancel_confirmed"]) == (ExitCode.TERMINATED, True)
    assert next(iter(backend.jobs.values())).state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert backend.count("cancel") == 5


def test_an_unconfirmed_cancel_is_reported_after_the_grace_budget() -> None:
    """Vertex never shows CANCELLING: the run still exits 143 within the grace budget and says so."""
    clock = FakeClock()
    clock.stop_at(50.0)
    backend = FakeBackend(states=["JOB_STATE_RUNNING"] * 1000)
    backend.cancel = ignore_cancel  # type: ignore[method-assign]
    result = launch(backend, clock, cancel_grace=20.0)
    assert result.exit_code == ExitCode.TERMINATED
    assert result.details["cancel_confirmed"] is False
    assert clock.elapsed <= 50.0 + 20.0 + 2.0


def test_a_pipeline_create_that_already_exists_reattaches() -> None:
    """ALREADY_EXISTS on the deterministic pipeline_job_id means this run's job exists: follow it."""
    backend = FakeBackend(states=["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"])
    backend.add(JobView(name=f"{PARENT}/pipelineJobs/nightly-abc", state="PIPELINE_STATE_RUNNING"))
    result = launch(backend, req=request(kind="pipeline"))
    assert (result.outcome, backend.count("create")) == (Outcome.SUCCEEDED, 1)
    assert result.details["reattached"] is True


def test_polls_grow_with_elapsed_time_and_stay_within_bounds() -> None:
    """The pause grows with the time watched, never below POLL_INITIAL×(1-jitter) nor above POLL_MAX."""
    schedule = PollSchedule(initial=10, maximum=300)
    rng = random.Random(1)
    bases = [schedule.base_delay(t) for t in (0, 100, 1000, 10_000)]
    assert bases == [10, 10, 100, 300]
    delays = [schedule.next_delay(t, rng) for t in range(0, 20_000, 50)]
    assert all(8.0 <= d <= 300.0 for d in delays)
    assert schedule.get_calls(600) < 600 / 5 / 4


def test_replace_never_submits_while_the_earlier_run_ignores_its_cancel() -> None:
    """An earlier job that stays RUNNING after cancel: no second job; exit 5 so a retry checks again."""
    backend = FakeBackend()
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    backend.cancel = ignore_cancel  # type: ignore[method-assign]
    backend.states = ["JOB_STATE_RUNNING"] * 1000
    result = launch(backend, concurrency="Replace")
    assert (result.outcome, result.exit_code, backend.count("create")) == (Outcome.ERROR, ExitCode.TRANSIENT, 0)
    assert "not submitting" in result.details["error"]["message"]


def test_reattaching_reads_the_job_before_reporting_it() -> None:
    """List views leave out details (a pipeline's tasks): a found job is fetched with GET before it is reported."""
    backend = FakeBackend()
    backend.add(existing("41", "JOB_STATE_FAILED", "run-1"))
    launch(backend)
    assert backend.calls[:2] == ["find_run", "get"]


def test_replace_waits_until_the_replaced_job_has_ended_not_just_cancelling() -> None:
    """A CANCELLING job can still end SUCCEEDED: the new job is created only once the earlier one is terminal."""
    backend = FakeBackend(cancelling_gets=3, cancel_to="JOB_STATE_SUCCEEDED")
    backend.add(existing("7", "JOB_STATE_RUNNING", "run-0"))
    result = launch(backend, concurrency="Replace")
    assert backend.jobs[f"{PARENT}/customJobs/7"].state == "JOB_STATE_SUCCEEDED"
    gets_before_create = backend.calls[: backend.calls.index("create")].count("get")
    assert gets_before_create == 4  # three answers of CANCELLING, then SUCCEEDED
    assert backend.count("cancel") == 1  # CANCELLING means the request arrived: not asked again
    assert result.outcome is Outcome.SUCCEEDED


def test_a_job_of_the_same_schedule_in_another_namespace_does_not_block() -> None:
    """Schedule identity includes the namespace: dev's nightly never skips (or cancels) prod's nightly."""
    backend = FakeBackend()
    other = existing("7", "JOB_STATE_RUNNING", "run-0")
    backend.add(JobView(name=other.name, state=other.state, labels={**other.labels, "k8s-namespace": "dev"}))
    prod = request()
    prod = JobRequest(**{**prod.__dict__, "namespace_label": "prod"})
    result = launch(backend, req=prod, concurrency="Forbid")
    assert (result.outcome, backend.count("create")) == (Outcome.SUCCEEDED, 1)


def test_a_server_that_never_answers_is_bounded_by_the_timeout() -> None:
    """Every GET hangs: TIMEOUT_SECONDS still ends the run on time (exit 4), no call outlives the deadline."""
    clock = FakeClock()
    backend = FakeBackend(clock=clock, states=["JOB_STATE_RUNNING"] * 1000, hangs={"get": 1000})
    result = launch(backend, clock, timeout=45.0, cancel_grace=10.0)
    assert (result.outcome, result.exit_code) == (Outcome.TIMEOUT, ExitCode.TIMEOUT)
    assert all(t <= 45.0 for method, t in backend.timeouts if method == "get")
    assert clock.elapsed <= 45.0 + 10.0 + 2.0


def test_a_streak_of_hanging_calls_is_bounded_by_the_transient_budget() -> None:
    """GETs that hang until their deadline are retried only within TRANSIENT_RETRY_SECONDS, then exit 5."""
    clock = FakeClock()
    backend = FakeBackend(clock=clock, states=["JOB_STATE_RUNNING"] * 1000, hangs={"get": 1000})
    result = launch(backend, clock, transient_budget=100.0)
    assert (result.outcome, result.exit_code) == (Outcome.ERROR, ExitCode.TRANSIENT)
    first_get = 10.0  # the first poll comes at most POLL_INITIAL after the create
    assert clock.elapsed <= first_get + 100.0 + 2.0


def test_every_shutdown_call_is_bounded_by_what_is_left_of_the_grace_budget() -> None:
    """A stop, and Vertex hangs on cancel: the shutdown still ends within CANCEL_GRACE_SECONDS of the stop."""
    clock = FakeClock()
    clock.stop_at(100.0)
    backend = FakeBackend(clock=clock, states=["JOB_STATE_RUNNING"] * 1000, hangs={"cancel": 1000})
    result = launch(backend, clock, cancel_grace=20.0)
    assert (result.exit_code, result.details["cancel_confirmed"]) == (ExitCode.TERMINATED, False)
    cancels = [t for method, t in backend.timeouts if method == "cancel"]
    assert cancels
    assert all(t <= 20.0 for t in cancels)
    assert clock.elapsed <= 100.0 + 20.0 + 2.0


def test_a_stop_during_a_hanging_get_is_acted_on_at_once() -> None:
    """The GET in flight when the stop arrives is abandoned: the cancel goes out at the moment of the stop."""
    clock = FakeClock()
    backend = FakeBackend(clock=clock, states=["JOB_STATE_RUNNING"] * 1000, hangs={"get": 1})
    clock.stop_at(15.0)  # the first GET starts before 10 s and would hang for 30 s
    cancelled_at: list[float] = []
    original = backend.cancel

    def cancel(name: str, *, timeout: float) -> None:
        cancelled_at.append(clock.elapsed)
        original(name, timeout=timeout)

    backend.cancel = cancel  # type: ignore[method-assign]
    result = launch(backend, clock)
    assert (result.exit_code, result.details["cancel_confirmed"]) == (ExitCode.TERMINATED, True)
    assert cancelled_at == [15.0]


def test_a_create_that_answers_after_the_stop_has_its_job_cancelled() -> None:
    """A stop lands during a slow create: its answer is still awaited (within the grace) and the job cancelled."""
    clock = FakeClock()
    clock.stop_at(3.0)
    backend = FakeBackend(clock=clock, slow={"create": 10.0})
    result = launch(backend, clock, cancel_grace=20.0)
    [job] = backend.jobs.values()
    assert (result.exit_code, result.job) == (ExitCode.TERMINATED, job.name)
    assert job.state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")


def test_a_create_slower_than_the_grace_leaves_time_to_cancel_what_it_made() -> None:
    """A stop, and the create answers only much later: waiting for it stops short of the grace, and the job it
    made (found through its answer or the lookup) is still cancelled within the budget."""
    clock = FakeClock()
    clock.stop_at(3.0)
    backend = FakeBackend(clock=clock, on_create=lambda job: clock.pause(100.0))
    result = launch(backend, clock, cancel_grace=20.0)
    [job] = backend.jobs.values()
    assert (result.exit_code, result.job) == (ExitCode.TERMINATED, job.name)
    assert job.state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert clock.elapsed <= 3.0 + 20.0 + 2.0
