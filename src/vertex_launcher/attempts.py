"""Runs that survive: one run as a sequence of attempts, each one Vertex job watched by its own ``watch.Watcher``.

The composition root calls ``Attempts.run`` instead of ``Watcher.run``. Every job of a run carries the run key and
``vertex-launcher-attempt=<N>``; ``RunBackend`` (the ``JobBackend`` every attempt's Watcher uses) lists a run's jobs in
all the regions its fallbacks name, hands each Watcher only the attempts it may follow (reattach follows the latest),
routes calls to the right region and remembers what this process saw of each job. After an attempt ends, ``_next``
decides from that attempt alone — a pure function of its end, its number and the settings, so whichever pod looks
next decides the same:

- **resume**: the latest attempt was made by an earlier process and was CANCELLED (or CANCELLING) already when this
  process first saw it, with ON_TERMINATE=cancel: the pod that watched it was stopped (its cancel-on-stop), so the
  next attempt is submitted with the same spec. A job this process made or watched being cancelled stays a failure;
- **resubmit**: the attempt failed for a class RESUBMIT_ON names (``classify``: capacity, preempted; a refused
  create: allocation-quota): the next attempt uses the next RESUBMIT_FALLBACKS choice, after RESUBMIT_DELAY_SECONDS;
- anything else ends the run with that attempt's result: the exit code follows the last attempt.

MAX_ATTEMPTS bounds every attempt, RESUBMIT_MAX_ATTEMPTS the resubmitted ones. A next attempt is never submitted
while another run of the schedule is active unless CONCURRENCY_POLICY=Allow (an older run never replaces a newer
one). The result record gains ``attempt``, ``attempts`` (each job, its state, why it ended, region and machine) and
``usage``: machine- and accelerator-seconds (replicas × runtime) of the attempts this process settled, i.e. saw
ended and acted on, so summing the records of all pods counts each attempt once.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from vertex_launcher.clock import Clock
from vertex_launcher.errors import ConfigError
from vertex_launcher.jobs import ATTEMPT_LABEL, FALLBACK_LABEL, RUN_LABEL, JobBackend, JobRequest, JobView
from vertex_launcher.result import ExitCode, Outcome, RunResult, is_terminal
from vertex_launcher.settings import ResubmitFallback
from vertex_launcher.watch import Policy, Watcher

log = structlog.get_logger(__name__)

FailureClass = Literal["capacity", "preempted", "allocation-quota"]
Concurrency = Literal["Allow", "Forbid", "Replace"]

#: A Compute Engine stockout as Vertex reports it on a training job ("Resources are insufficient in region: R. Try
#: a different region or use a different accelerator.", documented), Compute Engine's own zone wording and code,
#: and the STOCKOUT error Vertex documents for preempted Spot VMs.
_STOCKOUT = re.compile(
    r"resources are insufficient in region|does not have enough resources available|"
    r"zone_resource_pool_exhausted|\bstockout\b",
    re.IGNORECASE,
)
_PREEMPTED = re.compile(r"\bpreempt(ed|ion)?\b", re.IGNORECASE)


def classify(job: JobView) -> FailureClass | None:
    """Why a FAILED job failed, if for lack of capacity: ``preempted`` (Spot VMs reclaimed), ``capacity`` (stockout).

    A stockout of a SPOT job that had started is a preemption (Vertex reports both as STOCKOUT); anything else —
    another message, another end state — is not a capacity failure and is never resubmitted.
    """
    if not job.state.endswith("_FAILED") or not job.error:
        return None
    message = str(job.error.get("message") or "")
    if _PREEMPTED.search(message):
        return "preempted"
    if _STOCKOUT.search(message):
        return "preempted" if job.strategy == "SPOT" and job.start_time else "capacity"
    return None


@dataclass(frozen=True)
class AttemptPolicy:
    """How many attempts a run may make and which failures it resubmits; built from Settings by the composition root."""

    max_attempts: int = 3
    resubmit_on: frozenset[str] = frozenset()
    resubmit_max_attempts: int | None = None
    fallbacks: tuple[ResubmitFallback, ...] = ()
    resubmit_delay: float = 60.0
    #: ON_TERMINATE=cancel: only then can a CANCELLED job found by a new pod be the stopped pod's own cancel.
    resume: bool = True

    @property
    def resubmit_limit(self) -> int:
        """A RESUBMIT_ON failure of attempt N is resubmitted only while N is below this."""
        return min(self.resubmit_max_attempts or self.max_attempts, self.max_attempts)

    @property
    def regions(self) -> list[str]:
        """The regions the fallbacks name (the configured one comes from the request)."""
        return [choice.region for choice in self.fallbacks if choice.region]


def attempt_request(base: JobRequest, attempt: int, fallback: int, fallbacks: Sequence[ResubmitFallback]) -> JobRequest:
    """The request of attempt ``attempt`` using choice ``fallback`` (0: the configured job, i: ``fallbacks[i-1]``).

    The body is a deep copy with the attempt's labels; a region choice changes the parent; a later attempt of a
    PipelineJob gets its own deterministic id (``<id>-a<N>``), so the server still rejects a duplicate create.
    """
    body = copy.deepcopy(base.body)
    labels = body.setdefault("labels", {})
    labels[ATTEMPT_LABEL] = str(attempt)
    labels.pop(FALLBACK_LABEL, None)
    parent = base.parent
    if fallback:
        labels[FALLBACK_LABEL] = str(fallback)
        choice = fallbacks[fallback - 1]
        if choice.region:
            parent = f"projects/{base.project}/locations/{choice.region}"
        if base.kind == "custom":
            _apply(body["jobSpec"], choice, index=fallback - 1)
    job_id = base.pipeline_job_id
    if job_id is not None and attempt > 1:
        job_id = f"{job_id}-a{attempt}"
    return replace(base, body=body, parent=parent, attempt=attempt, pipeline_job_id=job_id)


def fallback_requests(base: JobRequest, fallbacks: Sequence[ResubmitFallback]) -> list[JobRequest]:
    """One request per fallback choice, for checking them all before anything is submitted."""
    return [attempt_request(base, 2, index, fallbacks) for index in range(1, len(fallbacks) + 1)]


def _apply(spec: dict[str, Any], choice: ResubmitFallback, *, index: int) -> None:
    """Put a choice's machine and scheduling fields into a CustomJobSpec (REST JSON, camelCase or snake_case)."""
    pools = _get(spec, "workerPoolSpecs") or []
    machine_fields = choice.machine_fields
    if machine_fields:
        targets = choice.worker_pools if choice.worker_pools is not None else [i for i, p in enumerate(pools) if p]
        for i in targets:
            if i >= len(pools) or not pools[i]:
                msg = f"VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[{index}].workerPools: the job has no worker pool {i}"
                raise ConfigError(msg)
            machine = _get(pools[i], "machineSpec", create=True)
            for key, value in machine_fields.items():
                _put(machine, key, value)
            if machine.get("acceleratorCount") == 0:  # a CPU choice: no accelerator at all
                machine.pop("acceleratorCount")
                _put(machine, "acceleratorType", None)
    if choice.scheduling_strategy or choice.max_wait_duration:
        scheduling = _get(spec, "scheduling", create=True)
        if choice.scheduling_strategy:
            _put(scheduling, "strategy", choice.scheduling_strategy)
        if choice.max_wait_duration:
            _put(scheduling, "maxWaitDuration", choice.max_wait_duration)


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _get(mapping: dict[str, Any], camel: str, *, create: bool = False) -> Any:
    """The value under ``camel`` or its snake_case spelling (moved to ``camel``); a new mapping if ``create``."""
    if _snake(camel) in mapping and camel not in mapping:
        mapping[camel] = mapping.pop(_snake(camel))
    if create and not isinstance(mapping.get(camel), dict):
        mapping[camel] = {}
    return mapping.get(camel)


def _put(mapping: dict[str, Any], camel: str, value: Any) -> None:
    """Set (or, with None, remove) a field under its camelCase name, dropping a snake_case spelling."""
    mapping.pop(_snake(camel), None)
    if value is None:
        mapping.pop(camel, None)
    else:
        mapping[camel] = value


class RunBackend:
    """The ``JobBackend`` of a run: its jobs in every region it may use, and what this process saw of each.

    ``find_run`` lists the run's jobs in each region and returns only those of attempt ≥ ``request.attempt``, latest
    attempt first (then newest), so a Watcher for attempt N never adopts an earlier attempt — neither on reattach nor
    when looking for the job an ambiguous create may have made. ``list_active`` spans every region too: a run in a
    fallback region still counts for the schedule's concurrency policy.
    """

    def __init__(
        self,
        backend_for: Callable[[str], JobBackend],
        *,
        regions: Sequence[str],
        monotonic: Callable[[], float],
    ) -> None:
        self._backend_for = backend_for
        self._backends: dict[str, JobBackend] = {}
        self.regions = list(dict.fromkeys(regions))
        self._monotonic = monotonic
        #: The first state this process saw of each job; the latest view of each; the attempts it tried to create.
        self.first_seen: dict[str, str] = {}
        self.latest: dict[str, JobView] = {}
        self.created: set[int] = set()

    def _of(self, region: str) -> JobBackend:
        if region not in self._backends:
            self._backends[region] = self._backend_for(region)
        return self._backends[region]

    def _seen(self, *jobs: JobView) -> None:
        for job in jobs:
            self.first_seen.setdefault(job.name, job.state)
            self.latest[job.name] = job

    def _each_region(self, request: JobRequest, timeout: float, call: str) -> list[JobView]:
        end = self._monotonic() + timeout
        found: dict[str, JobView] = {}
        for region in self.regions:
            scoped = replace(request, parent=f"projects/{request.project}/locations/{region}")
            left = max(0.001, end - self._monotonic())
            for job in getattr(self._of(region), call)(scoped, timeout=left):
                found[job.name] = job
        return list(found.values())

    # --- JobBackend ---
    def find_run(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend``; only attempts ≥ ``request.attempt``, the latest attempt first."""
        found = self._each_region(request, timeout, "find_run")
        self._seen(*found)
        mine = [job for job in found if job.attempt >= request.attempt]
        return sorted(mine, key=lambda job: (job.attempt, _created(job)), reverse=True)

    def list_active(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend``, in every region of the run."""
        return self._each_region(request, timeout, "list_active")

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        """See ``JobBackend``; the attempt counts as this process's even when the create fails (it may have made it)."""
        self.created.add(request.attempt)
        job = self._of(request.region).create(request, timeout=timeout)
        self._seen(job)
        return job

    def get(self, name: str, *, timeout: float) -> JobView:
        """See ``JobBackend``."""
        job = self._of(name.split("/")[3]).get(name, timeout=timeout)
        self._seen(job)
        return job

    def cancel(self, name: str, *, timeout: float) -> None:
        """See ``JobBackend``."""
        self._of(name.split("/")[3]).cancel(name, timeout=timeout)


def _created(job: JobView) -> datetime:
    return _time(job.create_time) or datetime.min.replace(tzinfo=UTC)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class _Next:
    """The attempt to make after one ended."""

    attempt: int
    fallback: int
    why: str  # "stopped" (resume) or the failure class (resubmit)


@dataclass
class _Refused:
    """An attempt whose create an allocation quota refused: no job, but it counts as an attempt."""

    attempt: int
    request: JobRequest
    error: str


@dataclass
class Attempts:
    """Runs one run's attempts to a ``RunResult``: the first reattaches or submits, each later one submits."""

    backend: RunBackend
    clock: Clock
    policy: Policy
    attempts: AttemptPolicy
    watcher: Callable[..., Watcher]
    _refused: list[_Refused] = field(default_factory=list)
    _settled: list[str] = field(default_factory=list)
    _why: dict[str, str] = field(default_factory=dict)

    def run(self, request: JobRequest) -> RunResult:
        """The whole run; never raises a LauncherError (each Watcher turns it into its result)."""
        started = self.clock.monotonic()
        current, result = request, self._watch(request, self.policy.concurrency, started)
        named = result  # the latest result that names a job: what a result without one still reports
        while True:
            step = self._next(result, current)
            if step is None:
                return self._final(self._carry(result, named), request.run_label)
            if step.why != "stopped" and self.attempts.resubmit_delay:
                stopped = self._pause(started)
                if stopped is not None:
                    return self._final(self._carry(stopped, named), request.run_label)
            current = attempt_request(request, step.attempt, step.fallback, self.attempts.fallbacks)
            # An older run must never replace a newer one: Forbid and Replace both skip while another run is active.
            concurrency: Concurrency = "Allow" if self.policy.concurrency == "Allow" else "Forbid"
            following = self._watch(current, concurrency, started)
            if following.outcome is Outcome.SKIPPED:
                log.warning(
                    "not making the next attempt: another run of the schedule is active",
                    attempt=step.attempt,
                    blocking_jobs=following.details.get("blocking_jobs"),
                )
                skipped = {"resubmit_skipped": {"attempt": step.attempt, **following.details}}
                last = self._carry(result, named)
                return self._final(replace(last, details={**last.details, **skipped}), request.run_label)
            result = following
            named = result if result.job is not None else named

    # --- one attempt ---
    def _watch(self, request: JobRequest, concurrency: Concurrency, started: float) -> RunResult:
        timeout = self.policy.timeout
        if timeout is not None:
            timeout = max(0.0, timeout - (self.clock.monotonic() - started))
        policy = replace(self.policy, timeout=timeout, concurrency=concurrency)
        return self.watcher(backend=self.backend, policy=policy).run(request)

    def _pause(self, started: float) -> RunResult | None:
        """RESUBMIT_DELAY_SECONDS (within TIMEOUT_SECONDS); the stop's result if a signal came meanwhile."""
        delay = self.attempts.resubmit_delay
        if self.policy.timeout is not None:
            delay = min(delay, max(0.0, self.policy.timeout - (self.clock.monotonic() - started)))
        if not self.clock.sleep(delay):
            return None
        log.warning("stopping between attempts", stopped_by=self.clock.stop_reason)
        details = {"stopped_by": self.clock.stop_reason, "on_terminate": self.policy.on_terminate}
        return RunResult(outcome=Outcome.CANCELLED, exit_code=ExitCode.TERMINATED, details=details)

    @staticmethod
    def _carry(result: RunResult, previous: RunResult) -> RunResult:
        """A result that names no job (stopped before its create, refused) still names the run's latest job."""
        if result.job is not None or previous.job is None:
            return result
        return replace(result, job=previous.job, state=previous.state, console_url=previous.console_url)

    # --- the decision ---
    def _next(self, result: RunResult, current: JobRequest) -> _Next | None:
        refused = result.outcome is Outcome.ERROR and result.details.get("reason") == "QuotaExceededError"
        if refused and result.job is None:
            error = str(result.details.get("error", {}).get("message", ""))
            self._refused.append(_Refused(current.attempt, current, error))
            fallback = int(current.body.get("labels", {}).get(FALLBACK_LABEL, "0"))
            return self._resubmit("allocation-quota", current.attempt, fallback, detail=error)
        job = self.backend.latest.get(result.job) if result.job else None
        if job is None:
            return None
        stopped = result.exit_code is ExitCode.TERMINATED
        if not stopped and (is_terminal(job.state) or result.outcome is Outcome.TIMEOUT):
            self._settled.append(job.name)
        ended_by_itself = is_terminal(job.state) and result.outcome in (Outcome.FAILED, Outcome.CANCELLED)
        return self._after(job) if ended_by_itself and not stopped else None

    def _after(self, job: JobView) -> _Next | None:
        """After an attempt that FAILED or was CANCELLED on its own (not by this process's stop or timeout)."""
        if job.state.endswith("_CANCELLED"):
            return self._resume(job)
        failure = classify(job)
        if failure is None:
            return None
        self._why[job.name] = failure
        detail = str((job.error or {}).get("message", ""))
        return self._resubmit(failure, job.attempt, job.fallback, detail=detail, job=job.name)

    def _resume(self, job: JobView) -> _Next | None:
        first = self.backend.first_seen.get(job.name, "")
        earlier_pods = job.attempt not in self.backend.created and first.endswith(("_CANCELLING", "_CANCELLED"))
        if not (self.attempts.resume and earlier_pods):
            # Cancelled while this process watched it, or before it saw the job its own (ambiguous) create made, or
            # in detach mode: someone else's cancel.
            return None
        if job.attempt >= self.attempts.max_attempts:
            log.error(
                "the run's latest job was cancelled by a stopped pod, and MAX_ATTEMPTS is reached: not resuming",
                job=job.name,
                attempt=job.attempt,
                max_attempts=self.attempts.max_attempts,
            )
            return None
        self._why[job.name] = "stopped"
        log.warning(
            "the run's latest job was cancelled before this pod saw it (an earlier pod was stopped): resuming",
            job=job.name,
            attempt=job.attempt,
            next_attempt=job.attempt + 1,
        )
        return _Next(job.attempt + 1, job.fallback, "stopped")

    def _resubmit(
        self, failure: FailureClass, attempt: int, fallback: int, *, detail: str, job: str | None = None
    ) -> _Next | None:
        if failure not in self.attempts.resubmit_on:
            log.info(
                f"the attempt failed for {failure}; not resubmitting (RESUBMIT_ON does not name it)",
                job=job,
                attempt=attempt,
                resubmit_on=sorted(self.attempts.resubmit_on),
            )
            return None
        if attempt >= self.attempts.resubmit_limit:
            log.error(
                f"the attempt failed for {failure} and no attempt is left: giving up",
                job=job,
                attempt=attempt,
                resubmit_max_attempts=self.attempts.resubmit_limit,
            )
            return None
        choice = (fallback + 1) % (len(self.attempts.fallbacks) + 1)
        chosen = self.attempts.fallbacks[choice - 1].model_dump(exclude_none=True, by_alias=True) if choice else {}
        log.warning(
            f"the attempt failed for {failure}: resubmitting",
            job=job,
            attempt=attempt,
            next_attempt=attempt + 1,
            fallback=choice,
            fallback_changes=chosen or "the configured job",
            resubmit_in_seconds=self.attempts.resubmit_delay,
            error_message=detail,
        )
        return _Next(attempt + 1, choice, failure)

    # --- the result record ---
    def _final(self, result: RunResult, run_label: str) -> RunResult:
        now = self.clock.now()
        jobs = [job for job in self.backend.latest.values() if job.labels.get(RUN_LABEL) == run_label]
        entries = [self._entry(job, result, now) for job in jobs] + [self._refused_entry(r) for r in self._refused]
        if not entries:
            return result
        entries.sort(key=lambda entry: (entry["attempt"], entry.get("create_time") or ""))
        for entry in entries:
            entry.pop("create_time", None)
        usage = _total([self.backend.latest[name] for name in dict.fromkeys(self._settled)], now)
        details = {**result.details, "attempt": entries[-1]["attempt"], "attempts": entries, "usage": usage}
        return replace(result, details=details)

    def _entry(self, job: JobView, result: RunResult, now: datetime) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "attempt": job.attempt,
            "job": job.name,
            "state": job.state,
            "reason": self._reason(job, result),
            "region": job.region,
            "create_time": job.create_time,
        }
        if job.pools:
            first = job.pools[0]
            entry["machine_type"] = first.machine_type
            if first.accelerator_type:
                entry |= {"accelerator_type": first.accelerator_type, "accelerator_count": first.accelerator_count}
        if job.strategy:
            entry["strategy"] = job.strategy
        if job.start_time:
            usage = _usage(job, now)
            entry["machine_seconds"] = round(sum(usage[0].values()), 1)
            if usage[1]:
                entry["accelerator_seconds"] = round(sum(usage[1].values()), 1)
        return entry

    def _reason(self, job: JobView, result: RunResult) -> str:
        """Why an attempt ended, in one word."""
        if job.name in self._why:
            return self._why[job.name]
        if job.name == result.job and result.exit_code is ExitCode.TERMINATED:
            return "stopped"
        if job.name == result.job and result.outcome is Outcome.TIMEOUT:
            return "timeout"
        if not is_terminal(job.state):
            return "active"
        short = job.state.split("_STATE_")[-1].lower()
        if short == "cancelled":
            later = any(other.attempt > job.attempt for other in self.backend.latest.values())
            return "stopped" if later else "cancelled"
        return classify(job) or short

    @staticmethod
    def _refused_entry(refused: _Refused) -> dict[str, Any]:
        body = refused.request.body
        entry: dict[str, Any] = {
            "attempt": refused.attempt,
            "job": None,
            "state": None,
            "reason": "allocation-quota",
            "region": refused.request.region,
            "error": refused.error,
        }
        pools = [pool for pool in (body.get("jobSpec", {}).get("workerPoolSpecs") or []) if pool]
        machine = pools[0].get("machineSpec", {}) if pools else {}
        if machine.get("machineType"):
            entry["machine_type"] = machine["machineType"]
        if machine.get("acceleratorType"):
            entry["accelerator_type"] = machine["acceleratorType"]
        return entry


def _usage(job: JobView, now: datetime) -> tuple[dict[str, float], dict[str, float]]:
    """(machine-seconds by machine type, accelerator-seconds by accelerator type): replicas × runtime.

    Runtime is start_time → end_time (now, for a job that has not ended); a job that never started used nothing.
    """
    start = _time(job.start_time)
    if start is None:
        return {}, {}
    runtime = max(0.0, ((_time(job.end_time) or now) - start).total_seconds())
    machines: dict[str, float] = {}
    accelerators: dict[str, float] = {}
    for pool in job.pools:
        _add(machines, pool.machine_type, pool.replica_count * runtime)
        if pool.accelerator_type and pool.accelerator_count:
            _add(accelerators, pool.accelerator_type, pool.replica_count * pool.accelerator_count * runtime)
    return machines, accelerators


def _add(totals: dict[str, float], key: str, seconds: float) -> None:
    totals[key] = totals.get(key, 0.0) + seconds


def _total(jobs: list[JobView], now: datetime) -> dict[str, Any]:
    """The ``usage`` field: the settled attempts' seconds by type, and all accelerator-seconds together."""
    machines: dict[str, float] = {}
    accelerators: dict[str, float] = {}
    for job in jobs:
        job_machines, job_accelerators = _usage(job, now)
        for key, seconds in job_machines.items():
            _add(machines, key, seconds)
        for key, seconds in job_accelerators.items():
            _add(accelerators, key, seconds)
    return {
        "counted_attempts": sorted(job.attempt for job in jobs),
        "machine_seconds": {key: round(value, 1) for key, value in sorted(machines.items())},
        "accelerator_seconds": {key: round(value, 1) for key, value in sorted(accelerators.items())},
        "accelerator_seconds_total": round(sum(accelerators.values()), 1),
    }
