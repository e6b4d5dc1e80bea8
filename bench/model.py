"""GET cost on paper, checked by simulation: the launcher's real ``PollSchedule`` on a virtual clock. Pure.

``watch_get_times`` replays the watch loop's timing (pause from ``next_delay(elapsed)``, then one GET; the GET
that sees the job ended is the last) for one job; ``sdk_get_times`` does the same for the Vertex SDK's
``CustomJob.run()`` (a GET right after create, then one every 5 s). ``simulate_fleet`` runs 1,000 of these at once
for scale target (g), counting per minute what each of Vertex's two request quotas sees: CRUD calls (GETs and the
two lists of a run) against 600 per minute, job submissions (one create per run) against 60 per minute. Used by
``bench.runner`` and ``tests/test_bench_model.py``; nothing here sleeps or does I/O.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from vertex_launcher.poll import PollSchedule

#: Vertex's default request quotas per project and region, per minute: resource management (CRUD: get, list,
#: cancel) and job submission (creates).
CRUD_QUOTA_PER_MINUTE = 600
SUBMISSION_QUOTA_PER_MINUTE = 60

#: Requests a launcher run makes besides its GETs: the reattach list and the concurrency list (CRUD), the create.
RUN_LISTS = 2
RUN_CREATES = 1
RUN_OVERHEAD_REQUESTS = RUN_LISTS + RUN_CREATES

#: The SDK's fixed pause between GETs (``google.cloud.aiplatform.jobs._JOB_WAIT_TIME``).
SDK_POLL_SECONDS = 5.0

MINUTE = 60.0
HOUR = 3600.0


def watch_get_times(runtime: float, schedule: PollSchedule, rng: random.Random | None) -> list[float]:
    """Seconds after create of each GET the launcher makes for a job that ends ``runtime`` s after create.

    With ``rng=None`` the pauses carry no jitter (``base_delay``), as ``PollSchedule.get_calls`` counts them.
    """
    times: list[float] = []
    elapsed = 0.0
    while True:
        elapsed += schedule.base_delay(elapsed) if rng is None else schedule.next_delay(elapsed, rng)
        times.append(elapsed)
        if elapsed >= runtime:
            return times


def sdk_get_times(runtime: float, period: float = SDK_POLL_SECONDS) -> list[float]:
    """Seconds after create of each GET ``CustomJob.run()`` makes (one at once, then every ``period``)."""
    return [i * period for i in range(math.ceil(runtime / period) + 1)]


def detection_lag(runtime: float, get_times: Sequence[float]) -> float:
    """Seconds from the job ending to the GET that sees it (the last GET)."""
    return get_times[-1] - runtime


def worst_lag_ratio(schedule: PollSchedule, horizon: float = 12 * HOUR) -> float:
    """The largest (detection lag / max(10 s, 10 % of runtime)) over every end time up to ``horizon``.

    A job ending just after a GET at ``e`` is seen one pause later, so the worst lag for ends in ``(e, e + pause]``
    is that pause, against a bound taken at ``e``. Jitter only shortens pauses: the unjittered schedule is the worst.
    """
    worst, elapsed = 0.0, 0.0
    while elapsed < horizon:
        pause = schedule.base_delay(elapsed)
        worst = max(worst, pause / max(10.0, 0.1 * elapsed))
        elapsed += pause
    return worst


@dataclass(frozen=True)
class FleetResult:
    """What ``simulate_fleet`` found (per-minute rates are over whole minutes of the measured window)."""

    jobs: int
    runtime_distribution: str
    start: str
    window_hours: float
    runs_started: int
    peak_gets_per_minute: int
    mean_gets_per_minute: float
    peak_requests_per_minute: int
    mean_requests_per_minute: float
    peak_crud_requests_per_minute: int
    peak_submissions_per_minute: int
    mean_submissions_per_minute: float
    minutes_over_crud_quota: int
    minutes_over_submission_quota: int
    analytic_gets_per_minute: float
    sdk_gets_per_minute: float
    gets_per_minute: list[int] = field(repr=False)

    def to_json(self, *, with_series: bool = False) -> dict[str, Any]:
        """JSON-able form (the per-minute series only when asked: it is long)."""
        data = asdict(self)
        if not with_series:
            data.pop("gets_per_minute")
        return data


def log_uniform(low: float, high: float) -> Callable[[random.Random], float]:
    """A runtime sampler: log-uniform on [low, high] (as many 10–20 min jobs as 6–12 h jobs)."""
    a, b = math.log(low), math.log(high)
    return lambda rng: math.exp(rng.uniform(a, b))


def uniform(low: float, high: float) -> Callable[[random.Random], float]:
    """A runtime sampler: uniform on [low, high]."""
    return lambda rng: rng.uniform(low, high)


def mean_gets_per_second(
    sample: Callable[[random.Random], float], schedule: PollSchedule, rng: random.Random, draws: int = 4000
) -> float:
    """Renewal-theory rate of one always-busy slot: E[GETs per run] / E[runtime] (jitter included)."""
    runtimes = [sample(rng) for _ in range(draws)]
    gets = [len(watch_get_times(t, schedule, rng)) for t in runtimes]
    return sum(gets) / sum(runtimes)


def simulate_fleet(
    *,
    jobs: int = 1000,
    sample: Callable[[random.Random], float] | None = None,
    distribution: str = "log-uniform 10 min - 12 h",
    schedule: PollSchedule | None = None,
    window: float = 24 * HOUR,
    warmup: float = 12 * HOUR,
    synchronized: bool = False,
    seed: int = 1,
) -> FleetResult:
    """``jobs`` slots, each watching one job at all times: when a job ends the next run of that slot starts.

    Steady state (``synchronized=False``): every slot starts at a random phase ``warmup`` seconds before the
    measured window, so the window sees the fleet as it is after hours of running. ``synchronized=True`` starts
    every slot's first run at the window's first second (one cron minute for the whole fleet): the worst burst.
    Counts GETs per whole minute of the window, all requests (adding the 3 per run before watching), and per
    quota: CRUD calls (GETs + 2 lists per run) and submissions (1 create per run). Open loop: nothing is throttled,
    so a minute over a quota is a minute whose excess the launchers would have to absorb as 429s and retries.
    """
    rng = random.Random(seed)
    sample = sample or log_uniform(10 * MINUTE, 12 * HOUR)
    schedule = schedule or PollSchedule()
    minutes = int(window // MINUTE)
    gets = [0] * minutes
    requests = [0] * minutes
    creates = [0] * minutes
    runs = 0
    for _ in range(jobs):
        t = 0.0 if synchronized else -warmup - rng.uniform(0.0, 12 * HOUR)
        while t < window:
            runtime = sample(rng)
            if t >= 0:
                runs += 1
                _bump(requests, t, RUN_OVERHEAD_REQUESTS)
                _bump(creates, t, RUN_CREATES)
            times = watch_get_times(runtime, schedule, rng)
            for offset in times:
                when = t + offset
                if when >= window:
                    break
                if when >= 0:
                    _bump(gets, when, 1)
                    _bump(requests, when, 1)
            # The slot's next run starts when this launcher has seen the end (its last GET).
            t += times[-1]
    analytic = mean_gets_per_second(sample, schedule, random.Random(seed + 1)) * jobs * MINUTE
    crud = [total - created for total, created in zip(requests, creates, strict=True)]
    return FleetResult(
        jobs=jobs,
        runtime_distribution=distribution,
        start="synchronized (all at minute 0)" if synchronized else "steady state (random phase, 12 h warm-up)",
        window_hours=window / HOUR,
        runs_started=runs,
        peak_gets_per_minute=max(gets),
        mean_gets_per_minute=round(sum(gets) / minutes, 1),
        peak_requests_per_minute=max(requests),
        mean_requests_per_minute=round(sum(requests) / minutes, 1),
        peak_crud_requests_per_minute=max(crud),
        peak_submissions_per_minute=max(creates),
        mean_submissions_per_minute=round(sum(creates) / minutes, 2),
        minutes_over_crud_quota=sum(1 for n in crud if n > CRUD_QUOTA_PER_MINUTE),
        minutes_over_submission_quota=sum(1 for n in creates if n > SUBMISSION_QUOTA_PER_MINUTE),
        analytic_gets_per_minute=round(analytic, 1),
        sdk_gets_per_minute=round(jobs * MINUTE / SDK_POLL_SECONDS, 1),
        gets_per_minute=gets,
    )


def _bump(bins: list[int], when: float, count: int) -> None:
    index = int(when // MINUTE)
    if 0 <= index < len(bins):
        bins[index] += count
