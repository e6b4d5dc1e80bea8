"""One run, start to finish: reattach → concurrency policy → submit → watch → cancel/detach on stop or timeout.

Called by the composition root with a ``JobBackend`` (``vertex.GapicBackend``, or a test's fake), a ``Clock`` and
a ``Policy``; returns the ``RunResult``. Every wait is ``clock.sleep`` (a stop request wakes it at once), every
failed call is retried only if the error says it is transient, and a create is never retried before a lookup.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import structlog

from vertex_launcher.clock import Clock
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
        found = self._call(lambda: self.backend.find_run(request), "look up this run's job")
        if not found:
            return None
        if len(found) > 1:
            log.warning(
                "more than one job carries this run's label; following the newest", jobs=[j.name for j in found]
            )
        job = found[0]
        self._track(job)
        self._reattached = True
        log.info("reattached to this run's job", job=job.name, state=job.state, console_url=self._console(job))
        return job

    def _apply_concurrency(self, request: JobRequest) -> RunResult | None:
        if self.policy.concurrency == "Allow":
            return None
        active = self._call(lambda: self.backend.list_active(request), "list active jobs of this schedule")
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
        pending = list(names)
        attempt_start = self.clock.monotonic()
        while pending:
            self._sleep(self.policy.schedule.initial)
            still: list[str] = []
            for name in pending:
                try:
                    job = self._call(partial(self.backend.get, name), "check a replaced job")
                except NotFoundError:
                    continue
                if job.state.endswith(("QUEUED", "PENDING", "RUNNING", "PAUSED")):
                    still.append(name)
                    self._cancel_quietly(name)  # not even CANCELLING: the request may have been lost; ask again
            pending = still
            waited = self.clock.monotonic() - attempt_start
            if pending and waited > 2 * self.policy.schedule.maximum:
                # Submitting now would run two jobs of the schedule at once: give up (exit 5, a retry re-checks).
                msg = f"replaced job(s) still active {waited:.0f} s after cancel: {', '.join(pending)}; not submitting"
                raise TransientApiError(msg, code="ABORTED")
        log.info("earlier run(s) cancelled", jobs=names)

    def _submit(self, request: JobRequest) -> JobView:
        first_failure: float | None = None
        attempt = 0
        while True:
            self._create_attempted = True
            try:
                job = self.backend.create(request)
            except AlreadyExistsError:
                name = f"{request.parent}/pipelineJobs/{request.pipeline_job_id}"
                job = self._call(partial(self.backend.get, name), "read the existing pipeline job")
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
                found = self._call(lambda: self.backend.find_run(request), "look up this run's job")
                if found:
                    job = found[0]
                    self._track(job)
                    log.info("the failed create did make the job; following it", job=job.name, state=job.state)
                    return job
                now = self.clock.monotonic()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure > self.policy.transient_budget:
                    raise
                self._sleep(self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after))
                attempt += 1
                continue
            self._track(job)
            log.info("job submitted", job=job.name, state=job.state, console_url=self._console(job))
            return job

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
            if self._deadline is not None and self.clock.monotonic() >= self._deadline:
                raise _Stop("timeout")
            previous = job
            job = self._call(partial(self.backend.get, previous.name), "get the job")
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
        grace_end = self.clock.monotonic() + self.policy.cancel_grace  # one budget for the lookup and the cancel
        job = self._job
        if job is None and self._create_attempted:
            # A create that failed ambiguously may have made the job: find it, to cancel it or to name it.
            job = self._lookup_quietly(request, until=grace_end)
        details: dict[str, Any] = {"stopped_by": why, "on_terminate": self.policy.on_terminate}
        outcome = Outcome.TIMEOUT if not by_signal else Outcome.CANCELLED
        if job is None:
            log.warning("stopping before any job was submitted", stopped_by=why)
            return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), None, details)
        if self.policy.on_terminate == "detach":
            log.warning("leaving the job running (ON_TERMINATE=detach)", job=job.name, stopped_by=why)
            outcome = Outcome.TIMEOUT if not by_signal else Outcome.DETACHED
            return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), job, details)
        job, confirmed = self._cancel_and_confirm(job, why, grace_end)
        details["cancel_confirmed"] = confirmed
        return self._result(outcome, exit_code_for(outcome, by_signal=by_signal), job, details)

    def _cancel_and_confirm(self, job: JobView, why: str | None, grace_end: float) -> tuple[JobView, bool]:
        if is_terminal(job.state):
            return job, job.state.endswith("CANCELLED")
        log.warning("cancelling the job", job=job.name, stopped_by=why)
        self._cancel_quietly(job.name)
        while self.clock.monotonic() < grace_end:
            try:
                job = self.backend.get(job.name)
            except LauncherError as exc:
                log.warning("could not read the job while cancelling", error_code=exc.code, error_message=exc.message)
            else:
                self._job = job
                if job.state.endswith(("CANCELLING", "CANCELLED")) or is_terminal(job.state):
                    log.info("cancel confirmed", job=job.name, state=job.state)
                    return job, True
                self._cancel_quietly(job.name)  # not even CANCELLING: the request may have been lost; ask again
            self.clock.pause(min(CANCEL_CHECK_SECONDS, max(0.0, grace_end - self.clock.monotonic())))
        log.error("cancel not confirmed within the grace budget", job=job.name, state=job.state)
        return job, False

    def _cancel_quietly(self, name: str, *, refusal_ends_run: bool = False) -> None:
        for attempt in range(3):
            try:
                self.backend.cancel(name)
            except TransientApiError as exc:
                log.warning("cancel failed, retrying", job=name, error_code=exc.code, error_message=exc.message)
                self.clock.pause(min(2.0, self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after)))
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
                found = self.backend.find_run(request)
            except LauncherError as exc:
                left = until - self.clock.monotonic()
                if not isinstance(exc, TransientApiError) or left <= 0:
                    log.error("could not look for a job made by the interrupted create", error_message=exc.message)
                    return None
                log.warning("could not look for a job made by the interrupted create; retrying", error_code=exc.code)
                self.clock.pause(min(2.0, left, self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after)))
                attempt += 1
                continue
            return found[0] if found else None

    # --- plumbing ---
    def _call(self, fn: Callable[[], T], what: str) -> T:
        """Call the API, retrying transient errors with backoff until the budget is spent."""
        first_failure: float | None = None
        attempt = 0
        while True:
            try:
                return fn()
            except TransientApiError as exc:
                now = self.clock.monotonic()
                first_failure = first_failure if first_failure is not None else now
                if now - first_failure > self.policy.transient_budget:
                    raise
                delay = self.policy.schedule.retry_delay(attempt, self.rng, exc.retry_after)
                log.warning(
                    f"could not {what}; retrying",
                    error_code=exc.code,
                    error_message=exc.message,
                    retry_in_seconds=round(delay, 1),
                )
                self._sleep(delay)
                attempt += 1

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
