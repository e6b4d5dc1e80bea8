"""GET cost on paper, checked by simulation: the launcher's real ``PollSchedule`` on a virtual clock. Pure.

``watch_get_times`` replays the watch loop's timing (pause from ``next_delay(elapsed)``, then one GET; the GET
that sees the job ended is the last) for one job; ``sdk_get_times`` does the same for the Vertex SDK's
``CustomJob.run()`` (a GET right after create, then one every 5 s). ``simulate_fleet`` runs 1,000 of these at once
for scale target (g), counting per minute what each of Vertex's two request quotas sees: CRUD calls (GETs and the
two lists of a run) against 600 per minute, job submissions (one create per run) against 60 per minute.
``simulate_log_fleet`` does the same for STREAM_LOGS: N launchers reading one project's entries with the streamer's
real ``ReadPacer`` against Cloud Logging's 60 reads/min quota; ``log_read_cost`` is what one job's log volume costs
in reads. Used by ``bench.runner`` and ``tests/test_bench_model.py``; nothing here sleeps or does I/O.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from vertex_launcher.logstream import MAX_PAGES_PER_POLL, MAX_POLL_SECONDS, PAGE_SIZE, ReadPacer, StreamPolicy
from vertex_launcher.poll import PollSchedule

#: Vertex's default request quotas per project and region, per minute: resource management (CRUD: get, list,
#: cancel) and job submission (creates).
CRUD_QUOTA_PER_MINUTE = 600
SUBMISSION_QUOTA_PER_MINUTE = 60

#: The STREAM_LOGS_* defaults the launcher ships with.
SHIPPED_STREAM = StreamPolicy()

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


# --- STREAM_LOGS: reads of the job's log entries ------------------------------------------------------------------

#: Cloud Logging's default read quota (ReadRequestsPerMinutePerProject) and its limit on open entries.tail sessions.
LOGGING_READS_PER_MINUTE = 60
TAIL_SESSIONS_PER_PROJECT = 10


@dataclass(frozen=True)
class LogFleetResult:
    """What ``simulate_log_fleet`` found over the measured window (after the warm-up)."""

    launchers: int
    poll_seconds: float
    recovery: float
    maximum_seconds: float
    pages_per_read: int
    quota_per_minute: int
    reads_per_minute: float
    refused_per_minute: float
    refused_share: float
    gap_median_s: float
    gap_p95_s: float
    gap_max_s: float
    tail_sessions_streaming: int

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def simulate_log_fleet(
    *,
    launchers: int,
    poll: float = SHIPPED_STREAM.poll,
    recovery: float = 0.75,
    maximum: float = MAX_POLL_SECONDS,
    pages: int = 1,
    quota: int = LOGGING_READS_PER_MINUTE,
    minutes: float = 60.0,
    warmup: float = 15.0,
    seed: int = 1,
) -> LogFleetResult:
    """``launchers`` streamers reading one project at once, each paced by its own real ``ReadPacer``.

    The project's quota is a rolling 60 s window of ``quota`` requests (as the emulator enforces it); a read of
    ``pages`` pages is ``pages`` requests, refused as a whole when the window is full part-way. ``gap`` is the time
    between one launcher's successful reads: how stale its view of the job's log can get (add the lag). The
    entries.tail alternative has no per-read cost but at most 10 sessions per project: the rest stream nothing.
    """
    rng = random.Random(seed)
    pacers = [ReadPacer(base=poll, recovery=recovery, maximum=maximum) for _ in range(launchers)]
    due = [(rng.uniform(0.0, poll), index) for index in range(launchers)]
    heapq.heapify(due)
    window: deque[float] = deque()
    last_ok: list[float | None] = [None] * launchers
    gaps: list[float] = []
    accepted = refused = 0
    start, end = warmup * MINUTE, (warmup + minutes) * MINUTE
    while due:
        now, index = heapq.heappop(due)
        if now >= end:
            break
        while window and now - window[0] >= MINUTE:
            window.popleft()
        measuring = now >= start
        served = 0
        while served < pages and len(window) < quota:
            window.append(now)
            served += 1
        if measuring:
            accepted += served
        if served == pages:
            if measuring and last_ok[index] is not None:
                gaps.append(now - last_ok[index])  # type: ignore[operator]
            last_ok[index] = now
            wait = pacers[index].succeeded(rng)
        else:
            refused += 1 if measuring else 0
            wait = pacers[index].refused(rng)
        heapq.heappush(due, (now + wait, index))
    gaps.sort()
    return LogFleetResult(
        launchers=launchers,
        poll_seconds=poll,
        recovery=recovery,
        maximum_seconds=maximum,
        pages_per_read=pages,
        quota_per_minute=quota,
        reads_per_minute=round(accepted / minutes, 1),
        refused_per_minute=round(refused / minutes, 1),
        refused_share=round(refused / max(1, refused + accepted / pages), 3),
        gap_median_s=round(statistics.median(gaps), 1) if gaps else math.inf,
        gap_p95_s=round(gaps[int(0.95 * (len(gaps) - 1))], 1) if gaps else math.inf,
        gap_max_s=round(gaps[-1], 1) if gaps else math.inf,
        tail_sessions_streaming=min(launchers, TAIL_SESSIONS_PER_PROJECT),
    )


def log_read_cost(
    lines_per_minute: float, *, poll: float = SHIPPED_STREAM.poll, lag: float = SHIPPED_STREAM.lag
) -> dict[str, Any]:
    """Reads per minute one streaming launcher makes for a job writing ``lines_per_minute``.

    Each read asks from (its last read's start - lag): ``lines × (poll + lag)`` entries a read, in pages of 1,000,
    at most ``MAX_PAGES_PER_POLL`` a read (the rest waits for the next one). Beyond that the reader falls behind.
    """
    entries = lines_per_minute * (poll + lag) / MINUTE
    pages = max(1, math.ceil(entries / PAGE_SIZE))
    readable = MAX_PAGES_PER_POLL * PAGE_SIZE * MINUTE / (poll + lag)
    return {
        "lines_per_minute": lines_per_minute,
        "entries_per_read": round(entries),
        "pages_per_read": min(pages, MAX_PAGES_PER_POLL),
        "reads_per_minute": round(min(pages, MAX_PAGES_PER_POLL) * MINUTE / poll, 1),
        "keeps_up": pages <= MAX_PAGES_PER_POLL,
        "max_lines_per_minute_read": round(readable),
    }
