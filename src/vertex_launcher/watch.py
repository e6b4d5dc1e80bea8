"""One run, start to finish: reattach → concurrency policy → submit → watch → cancel/detach on stop or timeout.

Called by the composition root with a ``JobBackend`` (``vertex.GapicBackend``, or a test's fake), a ``Clock`` and
a ``Policy``; returns the ``RunResult``. Every wait is ``clock.sleep`` (a stop request wakes it at once), every
failed call is retried only if the error says it is transient, and a create is never retried before a lookup.

Every API call goes through ``clock.call`` with a deadline taken from what is left of the run's budgets, so wall
time stays bounded whatever the server does: TIMEOUT_SECONDS bounds the watch, TRANSIENT_RETRY_SECONDS a streak of
failures, and CANCEL_GRACE_SECONDS — counted from the stop request — the lookup, cancel and confirm after a stop.
A read in flight when a stop arrives is abandoned at once; a create in flight is waited for (it may be making the
job) up to the grace budget less a reserve for cancelling what it made.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import structlog

from vertex_launcher.clock import Abandoned, Clock, PendingCall
from vertex_launcher.errors import AlreadyExistsError, ApiError, LauncherError, NotFoundError, TransientApiError
from vertex_launcher.jobs import JobBackend, JobRequest, JobView, console_url, logs_url
from vertex_launcher.poll import PollSchedule
from vertex_launcher.result import (
    TERMINAL_STATES,
    ExitCode,
    Outcome,
    RunResult,
    exit_code_for,
    is_terminal,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: While confirming a cancel (after a stop), look this often.
CANCEL_CHECK_SECONDS = 2.0
#: How much longer than a call's own deadline the main thread waits for it (token refresh, scheduling).
CALL_SLACK_SECONDS = 2.0
#: Each step of the shutdown (lookup, cancel, confirm) gets at least one call this long, even when the grace
#: budget is spent; the composition root's exit watchdog bounds the total.
MIN_SHUTDOWN_CALL_SECONDS = 2.0
#: Of the cancel grace, what a create in flight at a stop may not use: kept for cancelling the job it made.
CREATE_RESERVE_SECONDS = 5.0


@dataclass(frozen=True)
class Policy:
    """How this run behaves; built from Settings by the composition root."""

    wait: bool = True
    timeout: float | None = None
    on_terminate: Literal["cancel", "detach"] = "cancel"
    concurrency: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    schedule: PollSchedule = field(default_factory=PollSchedule)
    cancel_grace: float = 20.0
    transient_budget: float = 600.0
    heartbeat: float = 600.0
    #: Deadline of one API call when no budget is shorter; a create that outlives it is ambiguous (look first).
    call_timeout: float = 30.0


class _Stop(Exception):  # noqa: N818 - control flow, not an error
    """Unwinds to ``run`` when a signal arrived or the timeout passed."""

    def __init__(self, cause: Literal["signal", "timeout"]) -> None:
        super().__init__(cause)
        self.cause = cause


class Watcher:
    """Runs one ``JobRequest`` to a ``RunResult``."""

    def __init__(
        self,
        *,
        backend: JobBackend,
        clock: Clock,
        policy: Policy,
        rng: random.Random | None = None,
        project: str | None = None,
        on_job: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.policy = policy
        self.rng = rng or random.Random()
        self.project = project
        self.on_job = on_job
        self._job: JobView | None = None
        self._create_attempted = False
        self._pending_create: PendingCall[object] | None = None
        self._reattached = False
        self._started = clock.monotonic()
        self._deadline = None if policy.timeout is None else self._started + policy.timeout

    def run(self, request: JobRequest) -> RunResult:
        """The whole run; never raises a LauncherError (it becomes the result)."""
        self._kind = request.kind
        try:
            self._check_stop()
            job = self._reattach(request)
            if job is None:
                self._check_stop()  # a stopped run must neither skip (exit 0) nor cancel the earlier run's job
                blocking = self._apply_concurrency(request)
                if blocking is not None:
                    return blocking
                self._check_stop()
                job = self._submit(request)
            self._check_stop()
            if is_terminal(job.state):
                return self._finished(job)
            if not self.policy.wait:
                return self._result(Outcome.SUBMITTED, ExitCode.OK, job)
            return self._watch(job)
        except _Stop as stop:
            return self._terminate(request, stop.cause)
        except LauncherError as exc:
            return self._error(exc)

    # --- phases ---
    def _reattach(self, request: JobRequest) -> JobView | None:
        found = self._call(lambda t: self.backend.find_run(request, timeout=t), "look up this run's job")
        if not found:
            return None
        if len(found) > 1:
            log.warning(
                "more than one job carries this run's label; following the newest", jobs=[j.name for j in found]
            )
        job = self._adopt(found[0])
        self._reattached = True
        log.info("reattached to this run's job", job=job.name, state=job.state, console_url=self._console(job))
        return job

    def _adopt(self, listed: JobView) -> JobView:
        """Follow a job found by a list: GET it first, since list views leave out details (pipeline tasks)."""
        try:
            job = self._call(self._getter(listed.name), "read this run's job")
        except NotFoundError:
            job = listed
        self._track(job)
        return job

    def _apply_concurrency(self, request: JobRequest) -> RunResult | None:
        if self.policy.concurrency == "Allow":
            return None
        active = self._call(lambda t: self.backend.list_active(request, timeout=t), "list active jobs of this schedule")
        if not active:
            log.info("no earlier run of this schedule is active", concurrency_policy=self.policy.concurrency)
            return None
        names = [job.name for job in active]
        if self.policy.concurrency == "Forbid":
            log.warning("earlier run still active; skipping this run (CONCURRENCY_POLICY=Forbid)", blocking_jobs=names)
            return RunResult(
                outcome=Outcome.SKIPPED,
                exit_code=exit_code_for(Outcome.SKIPPED),
                details={"blocking_jobs": names, "reason": "CONCURRENCY_POLICY=Forbid"},
            )
        log.warning("cancelling earlier run(s) first (CONCURRENCY_POLICY=Replace)", replacing_jobs=names)
        for job in active:
            # A refused cancel ends the run (exit 3): submitting anyway would pile a second job on the first.
            self._cancel_quietly(job.name, refusal_ends_run=True)
        self._wait_for_replaced(names)
        return None

    def _wait_for_replaced(self, names: list[str]) -> None:
        """Until every replaced job has ENDED: a CANCELLING job can still end SUCCEEDED, overlapping the new one."""
        pending = list(names)
        attempt_start = self.clock.monotonic()
        while pending:
            self._sleep(self.policy.schedule.initial)
            still: list[str] = []
            for name in pending:
                try:
                    job = self._call(self._getter(name), "check a replaced job")
                except NotFoundError:
                    continue
                if is_terminal(job.state):
                    continue
                still.append(name)
                if not job.state.endswith("CANCELLING"):
                    self._cancel_quietly(name)  # not even CANCELLING: the request may have been lost; ask again
            pending = still
            waited = self.clock.monotonic() - attempt_start
            # Winding down can take a while (CANCELLING); a job that has not ended within the transient budget is
            # stuck like an API that keeps failing: exit 5, and the retried pod checks again.
            if pending and waited > max(2 * self.policy.schedule.maximum, self.policy.transient_budget):
                # Submitting now would run two jobs of the schedule at once: give up (exit 5, a retry re-checks).
                msg = f"replaced job(s) still active {waited:.0f} s after cancel: {', '.join(pending)}; not submitting"
                raise TransientApiError(msg, code="ABORTED")
        log.info("earlier run(s) ended", jobs=names)

    def _submit(self, request: JobRequest) -> JobView:
        first_failure: float | None = None
        attempt = 0
        while True:
            self._create_attempted = True
            started = self.clock.monotonic()
            try:
                job = self._create_once(request)
            except AlreadyExistsError:
                name = f"{request.parent}/pipelineJobs/{request.pipeline_job_id}"
                job = self._call(self._getter(name), "read the existing pipeline job")
                self._reattached = True
                log.info("this run's pipeline job already exists; reattached", job=job.name, state=job.state)
                self._track(job)
                return job
            except TransientApiError as exc:
                log.warning(
                    "create failed and may have reached Vertex; looking before retrying",
                    error_code=exc.code,
                    error_message=exc.message,
                )
                self._check_stop()
                self._check_deadline()
                found = self._call(lambda t: self.backend.find_run(request, timeout=t), "look up this run's job")
                if found:
                    job = self._adopt(found[0])
                    log.info("the failed create did make the job; following it", job=job.name, state=job.state)
                    return job
                first_failure = started if first_failure is None else first_failure
                delay = self._retry_pause(exc, attempt, first_failure)
                self._sleep(delay)
                attempt += 1
                continue
            self._track(job)
            log.info("job submitted", job=job.name, state=job.state, console_url=self._console(job))
            return job

    def _create_once(self, request: JobRequest) -> JobView:
        """One create; no answer at all is as ambiguous as DEADLINE_EXCEEDED.

        A stop that arrives meanwhile still waits for its answer — it may be making the job — up to the cancel
        grace less a reserve for cancelling that job.
        """
        self._check_stop()
        self._check_deadline()
        limit = self._call_limit(None, None)
        timeout = limit - self.clock.monotonic()
        reserve = min(CREATE_RESERVE_SECONDS, self.policy.cancel_grace / 2)
        try:
            return self.clock.call(
                lambda: self.backend.create(request, timeout=timeout),
                until=limit + CALL_SLACK_SECONDS,
                after_stop=self.policy.cancel_grace - reserve,
            )
        except Abandoned as gave_up:
            self._pending_create = gave_up.pending
            if gave_up.stopped:
                raise _Stop("signal") from None
            msg = f"no answer to the create within {timeout + CALL_SLACK_SECONDS:.0f} s"
            raise TransientApiError(msg, code="DEADLINE_EXCEEDED", ambiguous=True) from None

    def _watch(self, job: JobView) -> RunResult:
        watch_start = self.clock.monotonic()
        last_news = watch_start
        while True:
            delay = self.policy.schedule.next_delay(self.clock.monotonic() - watch_start, self.rng)
            if self._deadline is not None:
                remaining = self._deadline - self.clock.monotonic()
                if remaining <= 0:
                    raise _Stop("timeout")
                delay = min(delay, remaining)
            self._sleep(delay)
            self._check_deadline()
            previous = job
            job = self._call(self._getter(previous.name), "get the job")
            self._job = job
            now = self.clock.monotonic()
            if job.state != previous.state:
                log.info("job state changed", job=job.name, state=job.state, previous_state=previous.state)
                last_news = now
            elif now - last_news >= self.policy.heartbeat:
                log.info("job still in state", job=job.name, state=job.state, watched_seconds=round(now - watch_start))
                last_news = now
            if is_terminal(job.state):
                return self._finished(job)

    def _terminate(self, request: JobRequest, cause: Literal["signal", "timeout"]) -> RunResult:
        by_signal = cause == "signal"
        why = self.clock.stop_reason if by_signal else f"TIMEOUT_SECONDS={self.policy.timeout:g}"
        # One budget, counted from the stop request, for everything below: the lookup, the cancel, the confirm.
        stopped_at = self.clock.stopped_at if by_signal else None
        grace_end = (stopped_at if stopped_at is not None else self.clock.monotonic()) + self.policy.cancel_grace
        details: dict[str, Any] = {"stopped_by": why, "on_terminate": self.policy.on_terminate}
        job = self._job or self._answer_of_pending_create()
        if job is None and self._create_attempted:
            # A create that failed ambiguously (or is still unanswered) may have made the job: find it.
            job = self._lookup_quietly(request, until=grace_end) or self._answer_of_pending_create()
        outcome = Outcome.TIMEOUT if not by_signal else Outcome.CANCELLED
        if job is None:
            if self._pending_create is not None and not self._pending_create.done():
                details["create_in_flight"] = True
                log.error(
                    "stopping while a create is still unanswered: the job may yet appear; look for it by its label",
                    stopped_by=why,
                    label_filter=f'labels.vertex-launcher-run="{request.run_label}"',
                )
            else:
                log.warning("stopping before any job was submitted", stopped_by=why)
            return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), None, details)
        if self.policy.on_terminate == "detach":
            log.warning("leaving the job running (ON_TERMINATE=detach)", job=job.name, stopped_by=why)
            outcome = Outcome.TIMEOUT if not by_signal else Outcome.DETACHED
            return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), job, details)
        job, confirmed = self._cancel_and_confirm(job, why, grace_end)
        details["cancel_confirmed"] = confirmed
        return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), job, details)

    def _answer_of_pending_create(self) -> JobView | None:
        """The job made by a create that was left waiting at the stop, if it has answered since."""
        pending = self._pending_create
        if pending is None or not pending.done():
            return None
        try:
            job = pending.result()
        except Exception:  # a failed create made nothing we can name
            return None
        if not isinstance(job, JobView):
            return None
        self._track(job)
        log.info("the create left waiting at the stop has answered", job=job.name, state=job.state)
        return job

    def _cancel_and_confirm(self, job: JobView, why: str | None, grace_end: float) -> tuple[JobView, bool]:
        if is_terminal(job.state):
            return job, job.state.endswith("CANCELLED")
        name = job.name
        log.warning("cancelling the job", job=name, stopped_by=why)
        self._cancel_quietly(name, grace_end=grace_end)
        while self.clock.monotonic() < grace_end:
            try:
                job = self._shutdown_call(self._getter(name), grace_end)
            except LauncherError as exc:
                log.warning("could not read the job while cancelling", error_code=exc.code, error_message=exc.message)
            else:
                self._job = job
                if job.state.endswith(("CANCELLING", "CANCELLED")) or is_terminal(job.state):
                    log.info("cancel confirmed", job=job.name, state=job.state)
                    return job, True
                self._cancel_quietly(name, grace_end=grace_end)  # not even CANCELLING: the request may be lost
            self.clock.pause(min(CANCEL_CHECK_SECONDS, max(0.0, grace_end - self.clock.monotonic())))
        log.error("cancel not confirmed within the grace budget", job=job.name, state=job.state)
        return job, False

    def _cancel_quietly(self, name: str, *, grace_end: float | None = None, refusal_ends_run: bool = False) -> None:
        """Ask for a cancel (up to 3 tries on transient errors). After a stop every try is bounded by ``grace_end``."""
        for attempt in range(3):
            if attempt and grace_end is not None and self.clock.monotonic() >= grace_end:
                return
            try:
                if grace_end is None:
                    self._once(lambda t: self.backend.cancel(name, timeout=t), self._call_limit(None, None))
                else:
                    self._shutdown_call(lambda t: self.backend.cancel(name, timeout=t), grace_end)
            except TransientApiError as exc:
                log.warning("cancel failed, retrying", job=name, error_code=exc.code, error_message=exc.message)
                pause = min(2.0, self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after))
                if grace_end is not None:
                    pause = min(pause, max(0.0, grace_end - self.clock.monotonic()))
                self.clock.pause(pause)
                continue
            except ApiError as exc:
                log.info("cancel not needed", job=name, error_code=exc.code, error_message=exc.message)
            except LauncherError as exc:
                log.error("cancel refused", job=name, error_code=exc.code, error_message=exc.message)
                if refusal_ends_run:
                    raise
            else:
                log.info("cancel requested", job=name)
            return

    def _lookup_quietly(self, request: JobRequest, *, until: float) -> JobView | None:
        """The run's job after an interrupted create; transient errors are retried until ``until``."""
        attempt = 0
        while True:
            try:
                found = self._shutdown_call(lambda t: self.backend.find_run(request, timeout=t), until)
            except LauncherError as exc:
                left = until - self.clock.monotonic()
                if not isinstance(exc, TransientApiError) or left <= 0:
                    log.error("could not look for a job made by the interrupted create", error_message=exc.message)
                    return None
                log.warning("could not look for a job made by the interrupted create; retrying", error_code=exc.code)
                self.clock.pause(min(2.0, left, self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after)))
                attempt += 1
                continue
            if found:
                self._track(found[0])
            return found[0] if found else None

    # --- plumbing ---
    def _getter(self, name: str) -> Callable[[float], JobView]:
        return lambda timeout: self.backend.get(name, timeout=timeout)

    def _call_limit(self, now: float | None, first_failure: float | None) -> float:
        """The latest moment the next call may end: the call deadline, TIMEOUT_SECONDS, the transient budget.

        No one call may outlast the transient budget either: a first call that hangs is a streak of its own.
        """
        now = self.clock.monotonic() if now is None else now
        limit = now + min(self.policy.call_timeout, self.policy.transient_budget)
        if self._deadline is not None:
            limit = min(limit, self._deadline)
        if first_failure is not None:
            limit = min(limit, first_failure + self.policy.transient_budget)
        return limit

    def _once(self, fn: Callable[[float], T], limit: float, *, after_stop: float = 0.0) -> T:
        """One call that must end by ``limit``; a stop abandons it at once (unless ``after_stop`` says otherwise).

        ``fn`` receives the call's deadline in seconds. No answer in time is a DEADLINE_EXCEEDED TransientApiError.
        """
        timeout = max(0.001, limit - self.clock.monotonic())
        try:
            return self.clock.call(lambda: fn(timeout), until=limit + CALL_SLACK_SECONDS, after_stop=after_stop)
        except Abandoned as gave_up:
            if gave_up.stopped:
                raise _Stop("signal") from None
            msg = f"no answer within {timeout + CALL_SLACK_SECONDS:.0f} s"
            raise TransientApiError(msg, code="DEADLINE_EXCEEDED") from None

    def _shutdown_call(self, fn: Callable[[float], T], grace_end: float) -> T:
        """One call after a stop or timeout: bounded by what is left of the grace budget (at least a short try)."""
        left = grace_end - self.clock.monotonic()
        timeout = min(self.policy.call_timeout, max(MIN_SHUTDOWN_CALL_SECONDS, left))
        return self._once(fn, self.clock.monotonic() + timeout, after_stop=math.inf)

    def _call(self, fn: Callable[[float], T], what: str) -> T:
        """Call the API within the run's budgets, retrying transient errors with backoff until the budget is spent."""
        first_failure: float | None = None
        attempt = 0
        while True:
            started = self.clock.monotonic()
            limit = self._call_limit(started, first_failure)
            self._check_deadline()
            try:
                return self._once(fn, limit)
            except TransientApiError as exc:
                self._check_deadline()
                first_failure = started if first_failure is None else first_failure
                delay = self._retry_pause(exc, attempt, first_failure)
                log.warning(
                    f"could not {what}; retrying",
                    error_code=exc.code,
                    error_message=exc.message,
                    retry_in_seconds=round(delay, 1),
                )
                self._sleep(delay)
                attempt += 1

    def _retry_pause(self, exc: TransientApiError, attempt: int, first_failure: float) -> float:
        """The backoff before the next try, never shorter than the server's RetryInfo.

        Re-raises ``exc`` when that try could not start inside TRANSIENT_RETRY_SECONDS of the first failure.
        """
        delay = self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after)
        if self.clock.monotonic() + delay >= first_failure + self.policy.transient_budget:
            raise exc
        return delay

    def _check_deadline(self) -> None:
        if self._deadline is not None and self.clock.monotonic() >= self._deadline:
            raise _Stop("timeout")

    def _sleep(self, seconds: float) -> None:
        if self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - self.clock.monotonic()))
        if self.clock.sleep(seconds):
            raise _Stop("signal")
        if self._deadline is not None and self.clock.monotonic() >= self._deadline:
            raise _Stop("timeout")

    def _check_stop(self) -> None:
        if self.clock.stop_reason is not None:
            raise _Stop("signal")

    def _track(self, job: JobView) -> None:
        self._job = job
        self.on_job(job.name)

    def _console(self, job: JobView) -> str:
        return console_url(self._kind, job.name, self.project)

    def _finished(self, job: JobView) -> RunResult:
        outcome = TERMINAL_STATES[job.state]
        return self._result(outcome, exit_code_for(outcome), job)

    def _error(self, exc: LauncherError) -> RunResult:
        details: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message}, "reason": type(exc).__name__}
        return self._result(Outcome.ERROR, exc.exit_code, self._job, details)

    def _result(
        self, outcome: Outcome, exit_code: ExitCode, job: JobView | None, details: dict[str, Any] | None = None
    ) -> RunResult:
        extra: dict[str, Any] = {}
        if job is not None:
            extra = {
                "display_name": job.display_name,
                "create_time": job.create_time,
                "start_time": job.start_time,
                "end_time": job.end_time,
                "reattached": self._reattached,
                "logs_url": logs_url(self._kind, job.name, self.project),
            }
            if job.error:
                extra["vertex_error"] = job.error
            if job.tasks:
                extra["tasks"] = job.tasks
        return RunResult(
            outcome=outcome,
            exit_code=exit_code,
            job=job.name if job else None,
            state=job.state if job else None,
            console_url=self._console(job) if job else None,
            details={**extra, **(details or {})},
        )
