"""The chaos oracle: what the contract says a schedule must end with, checked on the emulator's state. Pure.

``check(observation)`` returns the violated invariants of one played schedule. The expectations come from the
schedule and from what the harness did (signal sent, process killed, outage made), never from the launcher's own
output; the launcher's output is only compared against them. Invariants:

- ``job-count``: how many jobs carry the run key: one when the run had to submit, none when it had to skip or stop
  before submitting, one more for each attempt the run had to make (a resume after a stopped pod in cancel mode, a
  capacity failure resubmitted to the fallback region, up to MAX_ATTEMPTS when every region fails);
- ``attempts``: attempt labels are distinct and at most MAX_ATTEMPTS, and never two jobs of the run were active at
  once (each attempt was created after the previous one had ended); the result names the latest attempt;
- ``exit-code``: the contract's code for what happened (SIGTERM/SIGINT → 143, TIMEOUT → 4, job failed or
  cancelled by someone else → 1, succeeded → 0, WAIT=false → 0, Forbid skip → 0, allocation quota → 1, outage past
  the budget → 5, SIGKILL + rerun → the rerun's code from the job's final state; transient faults within the budget,
  emulator restarts and a PAUSED spell change nothing);
- ``cancel-on-stop``: ON_TERMINATE=cancel and the run was stopped → its job is terminal (after a few seconds of
  CANCELLING), and when the last process was stopped no job of the run is left running at all (no orphan);
  ``detach-on-stop``: ON_TERMINATE=detach → its job was not cancelled;
- ``resubmission``: a capacity failure named by RESUBMIT_ON moves the run to the fallback region (unless every
  region fails); one not named is the run's end;
- ``result-record``: every stdout line is a JSON object, none holds a traceback (stderr neither), the last one is
  the canonical result whose ``exit_code`` is the process's, and which names the run's job and its final state;
- ``concurrency``: Forbid skips without any create and names the earlier job; Replace cancels the earlier job
  before creating (and leaves it alone when stopped before looking); Allow and finished earlier jobs are never
  cancelled;
- ``quota``: an allocation-quota refusal fails fast (one create, no job) naming the quota;
- ``retry-delay``: after a rate-limit answer carrying RetryInfo, the next call of that method waits at least the
  server's delay (runs that were signalled, killed or timed out excepted: a stop cuts the wait short on purpose);
- ``termination-message``: the Kubernetes termination message holds the same result as the last stdout line.

Used by ``tests/chaos/runner.py``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.chaos.schedule import CAPACITY, FALLBACK_REGION, MAX_ATTEMPTS, RERUN_AFTER_STOP

if TYPE_CHECKING:
    from tests.chaos.runner import Launch, Observation
    from tests.chaos.schedule import Schedule

TERMINAL_SUFFIXES = ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED")
RESULT_KEYS = ("message", "outcome", "job", "state", "exit_code", "duration_seconds", "console_url")
OUTCOMES = {"succeeded", "failed", "cancelled", "timeout", "skipped", "submitted", "detached", "error"}
SIGNAL_EXIT = 143
TIMEOUT_EXIT = 4
TRANSIENT_EXIT = 5


@dataclass(frozen=True)
class Violation:
    """One broken invariant."""

    invariant: str
    message: str

    def to_json(self) -> dict[str, str]:
        """JSON-able form."""
        return {"invariant": self.invariant, "message": self.message}

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


def own_jobs(schedule: Schedule, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs carrying this schedule's run key."""
    return [j for j in jobs if j["labels"].get("vertex-launcher-run") == schedule.run_key]


def is_terminal(state: str) -> bool:
    """Whether a JOB_STATE_/PIPELINE_STATE_ name is final."""
    return state.endswith(TERMINAL_SUFFIXES)


def _short(state: str) -> str:
    return state.removeprefix("JOB_STATE_").removeprefix("PIPELINE_STATE_")


def stopped(schedule: Schedule, launch: Launch) -> bool:
    """Whether this launch had to stop early: a signal reached it, or its TIMEOUT_SECONDS was due."""
    return launch.signal is not None or (schedule.event == "timeout" and not launch.killed)


def expected_exit(schedule: Schedule, launch: Launch, has_job: bool, *, after_stop: bool = False) -> set[int]:
    """The exit codes the contract allows for this launch (see ``_expected_exit``).

    One more is allowed in an outage schedule: its run has a 2 s retry budget (TRANSIENT_RETRY_SECONDS), which two
    429s asking for up to 1.5 s each can spend before the outage even comes — transient trouble that outlasted the
    retries, exit 5.
    """
    allowed = _expected_exit(schedule, launch, has_job, after_stop=after_stop)
    rate_limited = any(fault.kind == "rate-limit-429" for fault in schedule.faults)
    if launch.role == "run" and schedule.event == "outage-then-rerun" and rate_limited and launch.signal is None:
        allowed = allowed | {TRANSIENT_EXIT}
    return allowed


def _expected_exit(  # noqa: PLR0911 - a table
    schedule: Schedule, launch: Launch, has_job: bool, *, after_stop: bool = False
) -> set[int]:
    """The exit codes the contract allows for this launch.

    ``has_job``: the run key's job exists at the end; ``after_stop``: an earlier launch of the run was stopped.
    """
    s = schedule
    own_end = {0 if s.outcome == "succeeded" else 1}
    if launch.signal is not None:
        return {SIGNAL_EXIT}
    if after_stop and has_job:
        # The replacement pod: after cancel it resumes with the next attempt (submitted only, with WAIT=false);
        # after detach it reattaches to the job the stopped pod left. Either way the exit follows the last attempt.
        return {0} if s.on_terminate == "cancel" and not s.wait else own_end
    if s.event in CAPACITY:
        if not s.resubmit or s.everywhere:
            return {1}  # the capacity failure (or the last of MAX_ATTEMPTS of them) ends the run
        return {0} if not s.wait else own_end
    if launch.role == "run" and s.event == "quota":
        return {1}
    if launch.role == "run" and s.event == "outage-then-rerun" and launch.event_done:
        return {TRANSIENT_EXIT}
    if s.event == "cancelled-elsewhere" and launch.event_done:
        return {1}
    if s.blocked and not has_job:
        return {0}
    if s.event == "timeout":
        return {TIMEOUT_EXIT}
    if not s.wait:
        return {0}
    return {0 if s.outcome == "succeeded" else 1}


def expected_job_count(schedule: Schedule, launches: list[Launch]) -> set[int]:
    """How many jobs may carry the run key at the end."""
    s = schedule
    first = launches[0] if launches else None
    stopped_first = first is not None and first.signal is not None
    resumed = stopped_first and s.rerun_after_stop and s.on_terminate == "cancel"
    if s.blocked or s.event == "quota":
        return {0}
    if s.event == "sigterm-lookup" and stopped_first:
        return {1} if s.rerun_after_stop else {0}  # the replacement pod submits attempt 1
    if s.event == "timeout":
        return {0, 1}  # the timeout may fall before the create when faults slow the run down
    if s.event in CAPACITY:
        return {_capacity_jobs(s) + (1 if resumed else 0)}
    return {2} if resumed and s.event in RERUN_AFTER_STOP else {1}


def _capacity_jobs(s: Schedule) -> int:
    """Jobs a capacity schedule makes before any resume: the failed ones, then the one in the fallback region."""
    if s.event == "quota-resubmit":
        return 1 if s.resubmit else 0  # the refused create makes no job
    if not s.resubmit:
        return 1
    return MAX_ATTEMPTS if s.everywhere else 2


def check(obs: Observation) -> list[Violation]:
    """Every violated invariant of one played schedule."""
    s = obs.schedule
    out: list[Violation] = []

    def fail(invariant: str, message: str) -> None:
        out.append(Violation(invariant, message))

    if not obs.launches:
        return out if obs.harness_errors else [Violation("harness", "no launcher process ran")]
    mine = own_jobs(s, obs.jobs)
    job = mine[0] if mine else None
    if len(mine) not in expected_job_count(s, obs.launches):
        names = [f"{j['name']} ({j['state']})" for j in mine]
        fail(
            "job-count",
            f"{len(mine)} job(s) carry the run key, expected {expected_job_count(s, obs.launches)}: {names}",
        )

    final = [launch for launch in obs.launches if not launch.killed]
    for launch in obs.launches:
        if launch.note and launch.note.startswith("hung"):
            fail("exit-code", f"{launch.role}: {launch.note}")
    for launch in final:
        after_stop = any(stopped(s, other) for other in final[: final.index(launch)])
        allowed = expected_exit(s, launch, job is not None, after_stop=after_stop)
        if launch.exit_code not in allowed:
            outcome = (launch.result or {}).get("outcome")
            fail(
                "exit-code", f"{launch.role}: exit {launch.exit_code} (outcome {outcome!r}), expected {sorted(allowed)}"
            )
        _check_output(s, launch, fail)
    last = final[-1] if final else None
    if last is not None:
        _check_result_names_job(s, last, job, fail)
    if any(stopped(s, launch) for launch in final):
        if s.on_terminate == "detach" or (last is not None and stopped(s, last)):
            _check_stop(s, obs, job, fail)
            _check_no_orphan(s, mine[1:], last, fail)  # the latest job is _check_stop's
        else:  # cancel mode, and a replacement pod followed: the attempts before its own were cancelled (ended)
            _check_no_orphan(s, mine[1:], None, fail)
    _check_attempts(mine, fail)
    _check_resubmission(s, job, fail)
    _check_concurrency(s, obs, job, fail)
    if s.event == "quota":
        _check_quota(s, obs, fail)
    _check_retry_delays(s, obs, fail)
    return out


def _check_no_orphan(s: Schedule, mine: list[dict[str, Any]], last: Launch | None, fail: Any) -> None:
    """Cancel mode: ``mine`` all ended — always (``last`` None), or when ``last`` was stopped."""
    if s.on_terminate == "cancel" and (last is None or stopped(s, last)):
        orphans = [j["name"] for j in mine if not is_terminal(j["state"])]
        if orphans:
            fail("cancel-on-stop", f"the run was stopped for good, yet its job(s) {orphans} still run")


def _check_resubmission(s: Schedule, job: dict[str, Any] | None, fail: Any) -> None:
    if s.event not in CAPACITY or job is None or not s.resubmit or s.everywhere:
        return
    if job["name"].split("/")[3] != FALLBACK_REGION:
        message = f"RESUBMIT_ON={s.resubmit_on}: the run's last job {job['name']} is not in {FALLBACK_REGION}"
        fail("resubmission", message)


def attempt_of(job: dict[str, Any]) -> int:
    """A job's vertex-launcher-attempt label (1 without it)."""
    return int(job["labels"].get("vertex-launcher-attempt", "1"))


def _check_attempts(mine: list[dict[str, Any]], fail: Any) -> None:
    numbers = [attempt_of(job) for job in mine]
    if len(set(numbers)) != len(numbers) or any(n > MAX_ATTEMPTS for n in numbers) or len(mine) > MAX_ATTEMPTS:
        fail("attempts", f"attempt labels {sorted(numbers)} are not distinct or exceed MAX_ATTEMPTS={MAX_ATTEMPTS}")
    ordered = sorted((j for j in mine if j.get("create_time")), key=lambda j: _seconds(j["create_time"]))
    for earlier, later in itertools.pairwise(ordered):
        if earlier.get("end_time") is None or _seconds(earlier["end_time"]) > _seconds(later["create_time"]):
            fail(
                "attempts",
                f"two jobs of the run were active at once: {earlier['name']} (ended {earlier.get('end_time')}) "
                f"and {later['name']} (created {later['create_time']})",
            )


def _check_output(s: Schedule, launch: Launch, fail: Any) -> None:
    for number, line in enumerate(launch.lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            fail("result-record", f"{launch.role}: stdout line {number} is not JSON: {line[:200]!r}")
            return
        if not isinstance(record, dict):
            fail("result-record", f"{launch.role}: stdout line {number} is not a JSON object")
            return
        if "Traceback" in line:
            fail("result-record", f"{launch.role}: stdout line {number} holds a traceback")
    if "Traceback (most recent call last)" in launch.stderr:
        fail("result-record", f"{launch.role}: a traceback on stderr: {launch.stderr[-600:]!r}")
    result = launch.result
    if result is None:
        fail("result-record", f"{launch.role}: no result record on stdout (stderr: {launch.stderr[-300:]!r})")
        return
    missing = [key for key in RESULT_KEYS if key not in result]
    if result.get("message") != "run finished" or missing:
        fail("result-record", f"{launch.role}: the last record is not the canonical result (missing {missing})")
        return
    if result["exit_code"] != launch.exit_code:
        fail(
            "result-record", f"{launch.role}: result says exit {result['exit_code']}, process exited {launch.exit_code}"
        )
    if result["outcome"] not in OUTCOMES:
        fail("result-record", f"{launch.role}: unknown outcome {result['outcome']!r}")
    _check_termination_message(launch, result, fail)


def _check_termination_message(launch: Launch, result: dict[str, Any], fail: Any) -> None:
    if launch.termination_message is None:
        fail("termination-message", f"{launch.role}: no termination message was written")
        return
    try:
        message = json.loads(launch.termination_message)
    except ValueError:
        fail("termination-message", f"{launch.role}: the termination message is not JSON")
        return
    essentials = ("outcome", "job", "state", "exit_code")
    if {k: message.get(k) for k in essentials} != {k: result.get(k) for k in essentials}:
        fail("termination-message", f"{launch.role}: termination message {message} differs from the result")


def _check_result_names_job(s: Schedule, last: Launch, job: dict[str, Any] | None, fail: Any) -> None:
    result = last.result
    if result is None or result.get("message") != "run finished":
        return
    if job is None:
        if result.get("job") is not None and result.get("outcome") != "skipped":
            fail("result-record", f"{last.role}: the result names {result['job']} but no job carries the run key")
        return
    if result.get("job") != job["name"]:
        fail("result-record", f"{last.role}: the result names {result.get('job')!r}, the run's job is {job['name']}")
    if result.get("outcome") in ("succeeded", "failed") and result.get("state") != job["state"]:
        fail("result-record", f"{last.role}: the result says {result.get('state')}, the job is {job['state']}")
    if "attempt" in result and result["attempt"] != attempt_of(job):
        fail("attempts", f"{last.role}: the result says attempt {result['attempt']}, the latest is {attempt_of(job)}")


def _check_stop(s: Schedule, obs: Observation, job: dict[str, Any] | None, fail: Any) -> None:
    if job is None:
        return
    if s.on_terminate == "cancel":
        if not is_terminal(job["state"]):
            fail("cancel-on-stop", f"the stopped run left its job {job['name']} in {job['state']}")
        return
    cancels = [r for r in obs.requests if r["method"] == s.methods["cancel"] and r["resource"] == job["name"]]
    if cancels or _short(job["state"]) in ("CANCELLING", "CANCELLED"):
        fail("detach-on-stop", f"ON_TERMINATE=detach but the job was cancelled ({job['state']})")


def _calls(obs: Observation, method: str, resource: str | None = None) -> list[int]:
    """Positions in the request log of the calls of ``method`` (on ``resource``)."""
    return [i for i, r in enumerate(obs.requests) if r["method"] == method and resource in (None, r["resource"])]


def _check_concurrency(s: Schedule, obs: Observation, job: dict[str, Any] | None, fail: Any) -> None:
    earlier = next((j for j in obs.jobs if j["name"] == obs.earlier_job), None)
    if obs.earlier_job is None:
        return
    if earlier is None:
        fail("concurrency", f"the earlier job {obs.earlier_job} disappeared")
        return
    cancelled = _calls(obs, s.methods["cancel"], earlier["name"])
    if s.earlier == "finished" or s.concurrency == "Allow":
        if cancelled:
            fail("concurrency", f"{s.concurrency}/earlier={s.earlier}: the earlier job was cancelled")
    elif s.concurrency == "Forbid":
        _check_forbid(s, obs, earlier, fail)
    else:
        _check_replace(s, obs, job, earlier, fail)


def _check_forbid(s: Schedule, obs: Observation, earlier: dict[str, Any], fail: Any) -> None:
    creates = _calls(obs, s.methods["create"])
    if creates:
        fail("concurrency", f"Forbid with an active earlier job, yet {len(creates)} create call(s)")
    if _short(earlier["state"]) in ("CANCELLING", "CANCELLED"):
        fail("concurrency", f"Forbid changed the earlier job: {earlier['state']}")
    for launch in obs.launches:
        result = launch.result or {}
        if launch.killed or launch.signal is not None or result.get("outcome") != "skipped":
            continue
        if earlier["name"] not in result.get("blocking_jobs", []):
            fail("concurrency", f"{launch.role}: the skip does not name the blocking job {earlier['name']}")


def _check_replace(
    s: Schedule, obs: Observation, job: dict[str, Any] | None, earlier: dict[str, Any], fail: Any
) -> None:
    cancels = _calls(obs, s.methods["cancel"], earlier["name"])
    creates = _calls(obs, s.methods["create"])
    first = obs.launches[0]
    if s.event == "sigterm-lookup" and first.signal is not None and job is None:
        if cancels:
            fail("concurrency", "Replace: a run stopped before its concurrency check cancelled the earlier job")
        return
    if job is None:
        return
    if not cancels:
        fail("concurrency", "Replace: the earlier active job was never cancelled")
    elif creates and creates[0] < cancels[0]:
        fail("concurrency", "Replace: created before cancelling the earlier job")
    if not (is_terminal(earlier["state"]) or _short(earlier["state"]) == "CANCELLING"):
        fail("concurrency", f"Replace: the earlier job is still {earlier['state']}")


def _check_quota(s: Schedule, obs: Observation, fail: Any) -> None:
    creates = _calls(obs, s.methods["create"])
    if len(creates) != 1:
        fail("quota", f"an allocation-quota refusal must fail fast: {len(creates)} create call(s)")
    result = obs.launches[0].result or {}
    message = json.dumps(result.get("error", {}))
    if "gpus" not in message:
        fail("quota", f"the result does not name the quota: {message[:300]}")


def _seconds(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


def _check_retry_delays(s: Schedule, obs: Observation, fail: Any) -> None:
    rules = [fault.rule for fault in s.faults if fault.kind == "rate-limit-429"]
    if not rules:
        return
    method, hint = rules[0]["method"], float(rules[0]["retry_delay_seconds"])
    for launch in obs.launches:
        if launch.killed or launch.signal is not None or s.event == "timeout":
            continue
        calls = [
            r
            for r in obs.requests
            if r["method"] == method and launch.started_at <= _seconds(r["time"]) <= launch.ended_at
        ]
        for answered, following in itertools.pairwise(calls):
            if not (answered["fault"] and answered["code"] == "RESOURCE_EXHAUSTED"):
                continue
            gap = _seconds(following["time"]) - (_seconds(answered["time"]) + answered["duration_ms"] / 1000)
            if gap < hint * 0.98 - 0.01:
                fail("retry-delay", f"{launch.role}: {method} retried {gap:.2f} s after a 429 asking for {hint:g} s")
