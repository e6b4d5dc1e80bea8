"""The benchmark's poll-cost model: the real PollSchedule on a virtual clock (figure (g) with a small fleet)."""

from __future__ import annotations

import random

from bench import model
from vertex_launcher.poll import PollSchedule


def test_the_model_counts_the_same_gets_as_the_schedule_itself_without_jitter() -> None:
    """Replaying the watch loop's pauses gives PollSchedule.get_calls for every runtime in the README table."""
    schedule = PollSchedule()
    for runtime in (60, 600, 3600, 4 * 3600, 12 * 3600):
        assert len(model.watch_get_times(runtime, schedule, None)) == schedule.get_calls(runtime)


def test_the_last_get_is_the_first_one_at_or_after_the_job_ended() -> None:
    """The watch stops at the first GET that finds the job over, and not before."""
    times = model.watch_get_times(600, PollSchedule(), random.Random(3))
    assert times[-1] >= 600 > times[-2]


def test_jitter_only_shortens_pauses_so_it_never_costs_fewer_gets() -> None:
    """A jittered watch of a job makes at least as many GETs as the unjittered schedule."""
    schedule, rng = PollSchedule(), random.Random(1)
    for runtime in (60, 600, 3600):
        base = schedule.get_calls(runtime)
        assert all(len(model.watch_get_times(runtime, schedule, rng)) >= base for _ in range(50))


def test_the_shipped_schedule_sees_every_end_within_max_10_s_or_10_percent() -> None:
    """Target (d): no pause exceeds max(10 s, 10 % of the time watched), the bound met with equality."""
    assert model.worst_lag_ratio(PollSchedule()) == 1.0


def test_a_schedule_polling_less_than_the_shipped_one_breaks_the_lag_bound() -> None:
    """A longer first pause or a larger fraction saves GETs only by detecting ends later than the bound."""
    assert model.worst_lag_ratio(PollSchedule(initial=15.0)) > 1.0
    assert model.worst_lag_ratio(PollSchedule(fraction=0.15)) > 1.0


def test_the_sdk_polls_at_once_and_then_every_5_s_until_it_sees_the_end() -> None:
    """CustomJob.run(): a GET right after create, then one per 5 s, the last at or after the end."""
    assert model.sdk_get_times(12) == [0.0, 5.0, 10.0, 15.0]
    assert len(model.sdk_get_times(600)) == 121


def test_a_steady_fleet_polls_at_the_renewal_rate_far_below_the_sdk() -> None:
    """100 always-busy slots of 10 min – 12 h jobs: the simulated mean matches E[GETs]/E[runtime], ~25× below 5 s."""
    result = model.simulate_fleet(jobs=100, window=4 * model.HOUR, warmup=12 * model.HOUR, seed=2)
    assert abs(result.mean_gets_per_minute - result.analytic_gets_per_minute) < 0.25 * result.analytic_gets_per_minute
    assert result.peak_gets_per_minute < 2 * result.mean_gets_per_minute
    assert result.sdk_gets_per_minute == 1200 > 20 * result.mean_gets_per_minute


def test_a_synchronized_start_is_a_burst_in_the_first_minute() -> None:
    """When every slot starts in the same minute, the first two minutes carry the peak: ~6 GETs per job each."""
    result = model.simulate_fleet(jobs=50, window=2 * model.HOUR, synchronized=True, seed=4)
    assert max(result.gets_per_minute[:2]) == max(result.gets_per_minute) >= 50 * 5
    assert result.peak_requests_per_minute >= 50 * model.RUN_OVERHEAD_REQUESTS + 50 * 5


def test_the_fleet_counts_each_quota_apart_one_submission_per_run() -> None:
    """Creates go to the 60/min submission quota, GETs and the two lists to the 600/min CRUD quota: 50 slots
    starting in one minute submit 50 creates in it (under 60), and their GETs alone exceed neither quota later."""
    result = model.simulate_fleet(jobs=50, window=2 * model.HOUR, synchronized=True, seed=4)
    assert result.peak_submissions_per_minute == 50
    assert result.peak_crud_requests_per_minute == result.peak_requests_per_minute - 50
    assert result.minutes_over_submission_quota == 0
    burst = model.simulate_fleet(jobs=100, window=model.HOUR, synchronized=True, seed=4)
    assert (burst.peak_submissions_per_minute, burst.minutes_over_submission_quota) == (100, 1)


def test_a_fleet_of_streaming_launchers_never_reads_more_than_the_quota() -> None:
    """STREAM_LOGS fleet: one launcher reads every pause, never refused; 100 stay within 60 reads a minute."""
    alone = model.simulate_log_fleet(launchers=1, minutes=20)
    assert (alone.refused_per_minute, alone.gap_max_s <= model.SHIPPED_STREAM.poll) == (0, True)
    crowd = model.simulate_log_fleet(launchers=100, minutes=20)
    assert crowd.reads_per_minute <= model.LOGGING_READS_PER_MINUTE
    assert crowd.refused_per_minute > 0
    assert crowd.gap_max_s < float("inf")  # every launcher kept getting reads through
    assert crowd.tail_sessions_streaming == 10


def test_a_loud_jobs_read_cost_counts_the_lag_window_and_the_page_limit() -> None:
    """10,000 lines a minute at 30 s pauses and a 10 s lag: 6,667 entries a read, 7 pages, 14 reads a minute."""
    cost = model.log_read_cost(10_000)
    assert (cost["entries_per_read"], cost["pages_per_read"], cost["reads_per_minute"]) == (6667, 7, 14.0)
    assert cost["keeps_up"]
    assert not model.log_read_cost(20_000)["keeps_up"]
