"""Streaming the job's own log entries (``logstream``): the read window, pacing, the output budget, and the
streamer thread against a hand-written ``LogSource`` that evaluates the streamer's filters with the emulator's
Logging filter parser. End-to-end runs with the real clients are in ``tests/test_logstream_e2e.py``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from structlog.testing import capture_logs

from vertex_launcher.clock import SystemClock
from vertex_launcher.emulator import logfilter
from vertex_launcher.errors import ApiError, AuthError, TransientApiError
from vertex_launcher.jobs import JobView
from vertex_launcher.logstream import (
    EntryWindow,
    LineBudget,
    LogEntryView,
    LogStreamer,
    Page,
    ReadPacer,
    StreamPolicy,
    custom_job_clause,
)
from vertex_launcher.result import ExitCode, Outcome, RunResult

T0 = datetime(2026, 1, 31, 2, 0, tzinfo=UTC)
JOB = "projects/demo/locations/us-central1/customJobs/123"


def entry(seconds: float, insert_id: str, *, job_id: str = "123", task: str = "workerpool0-0") -> LogEntryView:
    """An ml_job entry ``seconds`` after T0."""
    return LogEntryView(
        timestamp=T0 + timedelta(seconds=seconds),
        insert_id=insert_id,
        log_name=f"projects/demo/logs/{task}",
        severity="INFO",
        message=f"line {insert_id}",
        resource_type="ml_job",
        resource_labels={"job_id": job_id, "task_name": task},
    )


# --- the read window ---------------------------------------------------------------------------------------------


def test_an_entry_read_twice_is_taken_once() -> None:
    """A re-read (the lag window) returns entries again: accept() says which are new."""
    window = EntryWindow(lag=10)
    assert window.accept(entry(1, "a"))
    assert not window.accept(entry(1, "a"))


def test_held_entries_come_out_in_timestamp_then_insert_id_order_once_lag_old() -> None:
    """Entries read out of order print in (timestamp, insertId) order, only when `lag` older than the newest/now."""
    window = EntryWindow(lag=10)
    for item in (entry(5, "b"), entry(5, "a"), entry(1, "z"), entry(20, "c")):
        window.accept(item)
    ready = window.ready(T0 + timedelta(seconds=12))
    assert [e.insert_id for e in ready] == ["z", "a", "b"]
    assert window.held == 1
    assert [e.insert_id for e in window.ready(None)] == ["c"]


def test_the_newest_entry_read_is_the_clock_when_the_server_runs_ahead() -> None:
    """With entries stamped after the local clock (skew), holding is measured from the newest entry instead."""
    window = EntryWindow(lag=10)
    for item in (entry(100, "a"), entry(115, "b")):
        window.accept(item)
    assert [e.insert_id for e in window.ready(T0)] == ["a"]


def test_a_complete_read_moves_every_floor_to_when_it_began_minus_lag() -> None:
    """After the last page: floors = (the read's start: clock, or newest entry if later) - lag; older ids forgotten.

    A read that pages for a while passes entries that arrive meanwhile behind its page token; an entry at most
    `lag` late that is older than (start - lag) was readable when the read began, so this read found it.
    """
    window = EntryWindow(lag=10)
    window.add_clause("A", T0)
    window.query(None)
    window.accept(entry(1, "old"))
    window.read_complete()
    assert window.floors == {"A": T0}  # nothing was known when the first read began
    window.query(T0 + timedelta(seconds=60))
    window.accept(entry(90, "newer"))
    window.read_complete()
    assert window.floors == {"A": T0 + timedelta(seconds=50)}
    window.query(T0 + timedelta(seconds=60))  # the server runs ahead of this clock: the newest entry counts
    window.read_complete()
    assert window.floors == {"A": T0 + timedelta(seconds=80)}
    assert window.accept(entry(1, "old"))  # forgotten: below every floor, never asked for again
    assert not window.accept(entry(90, "newer"))


def test_the_query_gives_each_clause_its_own_lower_bound() -> None:
    """A clause added later (a pipeline task found later) is read from its own start."""
    window = EntryWindow(lag=0)
    window.add_clause("A", T0 + timedelta(seconds=60))
    window.add_clause("B", T0)
    assert not window.add_clause("A", T0)
    assert window.query() == (
        '(((B)) AND timestamp>="2026-01-31T02:00:00.000000Z") OR (((A)) AND timestamp>="2026-01-31T02:01:00.000000Z")'
    )


# --- pacing and the output budget --------------------------------------------------------------------------------


def test_each_refusal_doubles_the_pause_up_to_the_maximum_and_successes_bring_it_back_slowly() -> None:
    """429 → ×2 (never below RetryInfo), capped at 120 s; each success ×0.75 down to the base."""
    pacer = ReadPacer(base=15, jitter=0)
    rng = random.Random(1)
    assert [pacer.refused(rng) for _ in range(5)] == [30, 60, 120, 120, 120]
    assert pacer.refusals == 5
    assert pacer.succeeded(rng) == 90
    assert pacer.refusals == 0
    for _ in range(20):
        pacer.succeeded(rng)
    assert pacer.interval == 15
    assert pacer.refused(rng, retry_after=600) == 600  # RetryInfo wins; the doubling goes on from 15 s
    assert pacer.interval == 30


def test_the_line_budget_allows_a_minute_of_lines_at_once_then_the_rate() -> None:
    """1,000 a minute: 1,000 at once, then about 16.7 a second."""
    budget = LineBudget(1000)
    assert sum(budget.take(0.0) for _ in range(1500)) == 1000
    assert sum(budget.take(3.0) for _ in range(100)) == 50


# --- the streamer ----------------------------------------------------------------------------------------------


class FakeSource:
    """Serves ``entries`` that match the streamer's filter (parsed by the emulator's Logging filter parser).

    ``errors`` are raised by the next calls, in order; ``block`` makes a call wait until ``close``.
    """

    def __init__(self, entries: list[LogEntryView], *, page_size: int = 3) -> None:
        self.entries = list(entries)
        self.page_size = page_size
        self.errors: list[Exception] = []
        self.filters: list[str] = []
        self.block = threading.Event()
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def add(self, *items: LogEntryView) -> None:
        with self._lock:
            self.entries.extend(items)

    def list_entries(self, *, filter_: str, page_token: str, page_size: int) -> Page:
        self.filters.append(filter_)
        if self.block.is_set():
            self.closed.wait(10)
            msg = "channel closed"
            raise RuntimeError(msg)
        if self.errors:
            raise self.errors.pop(0)
        node = logfilter.parse(filter_)
        with self._lock:
            found = sorted((e for e in self.entries if node.matches(_getter(e))), key=lambda e: e.key)
        start = int(page_token or 0)
        page = found[start : start + self.page_size]
        more = start + self.page_size < len(found)
        return Page(page, str(start + self.page_size) if more else "")

    def close(self) -> None:
        self.closed.set()


def _getter(item: LogEntryView) -> Any:
    def get(name: str) -> str | int | None:
        if name == "timestamp":
            return round(item.timestamp.timestamp() * 1_000_000)
        if name == "resource.type":
            return item.resource_type
        if name.startswith("resource.labels."):
            return item.resource_labels.get(name.removeprefix("resource.labels."))
        return None

    return get


def _streamer(source: FakeSource, *, kind: str = "custom", **policy: Any) -> tuple[LogStreamer, list[dict[str, Any]]]:
    printed: list[dict[str, Any]] = []
    streamer = LogStreamer(
        source_factory=lambda: source,
        write=printed.append,
        clock=SystemClock(),
        policy=StreamPolicy(**({"poll": 0.01, "lag": 0.0, "drain": 2.0} | policy)),
        kind=kind,  # type: ignore[arg-type]
        logs_url=lambda name: f"https://logs/{name}",
        rng=random.Random(3),
    )
    return streamer, printed


def _fresh(name: str = JOB, **fields: Any) -> JobView:
    created = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return JobView(name=name, state="JOB_STATE_RUNNING", create_time=created, **fields)


def _ended(name: str = JOB) -> RunResult:
    end = datetime.now(UTC).isoformat()
    return RunResult(Outcome.SUCCEEDED, ExitCode.OK, job=name, state="JOB_STATE_SUCCEEDED", details={"end_time": end})


def _now_entries(count: int, **kwargs: Any) -> list[LogEntryView]:
    base = (datetime.now(UTC) - T0).total_seconds()
    return [entry(base + i * 0.001, f"{i:03d}", **kwargs) for i in range(count)]


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _observed_start(streamer: LogStreamer, view: JobView) -> None:
    class Backend:
        def get(self, name: str, *, timeout: float) -> JobView:
            return view

    streamer.observe(Backend()).get(view.name, timeout=1.0)  # type: ignore[arg-type]
    streamer.start(view.name)


def test_every_entry_is_printed_once_in_order_across_pages_and_re_reads() -> None:
    """10 entries over 4 pages, read again and again (lag window): each printed once, in order; counted."""
    source = FakeSource(_now_entries(10))
    streamer, printed = _streamer(source, lag=0.5)
    with capture_logs() as logs:
        _observed_start(streamer, _fresh())
        result = streamer.finish(_ended())
    assert [line["vertex_log"]["insert_id"] for line in printed] == [f"{i:03d}" for i in range(10)]
    assert result.details["vertex_logs"]["printed"] == 10
    assert result.details["vertex_logs"]["dropped"] == 0
    assert result.details["vertex_logs"]["drained"] is True
    assert [record["event"] for record in logs if "streaming" in record["event"]] == [
        "streaming the job's logs from the job's start"
    ]
    line = printed[0]
    assert line["severity"] == "INFO"
    assert line["message"] == "line 000"
    assert line["time"] == line["vertex_log"]["timestamp"]
    assert line["vertex_log"]["task"] == "workerpool0-0"
    assert line["vertex_log"]["log_name"] == "projects/demo/logs/workerpool0-0"


def test_entries_arriving_after_the_job_ended_are_drained_before_the_result() -> None:
    """finish() keeps reading until entries up to end_time have had `lag` to arrive; a late one is printed."""
    source = FakeSource(_now_entries(2))
    streamer, printed = _streamer(source, lag=0.3)
    _observed_start(streamer, _fresh())
    ended = _ended()
    late = _now_entries(3)[2]  # 2 ms after "now": later than the first entries whatever the clock's resolution
    threading.Timer(0.15, lambda: source.add(replace_id(late, "late"))).start()
    result = streamer.finish(ended)
    assert [line["vertex_log"]["insert_id"] for line in printed][-1] == "late"
    assert result.details["vertex_logs"]["drained"] is True


def replace_id(item: LogEntryView, insert_id: str) -> LogEntryView:
    """The same entry with another insertId."""
    return LogEntryView(**{**item.__dict__, "insert_id": insert_id})


def test_a_stop_signal_skips_the_drain_and_nothing_is_printed_after_stop() -> None:
    """Stopped by a signal: no drain; a read blocked in flight when stop() comes prints nothing afterwards."""
    clock = SystemClock()
    source = FakeSource(_now_entries(3))
    printed: list[dict[str, Any]] = []
    streamer = LogStreamer(
        source_factory=lambda: source,
        write=printed.append,
        clock=clock,
        policy=StreamPolicy(poll=0.01, lag=0.0, drain=30.0),
        kind="custom",
        logs_url=str,
    )
    _observed_start(streamer, _fresh())
    _wait_for(lambda: len(printed) == 3)
    source.block.set()
    _wait_for(lambda: len(source.filters) >= 2)
    source.add(*_now_entries(2))
    clock.request_stop("SIGTERM")
    started = time.monotonic()
    result = streamer.finish(_ended())
    count = len(printed)
    assert time.monotonic() - started < 1.5  # no drain, stop() waits at most a second for the thread
    time.sleep(0.2)
    assert len(printed) == count == 3
    assert "drained" not in result.details["vertex_logs"]


def test_three_refusals_in_a_row_pause_streaming_with_one_warning_then_it_resumes() -> None:
    """429 ×4: one 'paused' warning, backed-off reads, then 'resumed'; every entry still printed once."""
    source = FakeSource(_now_entries(4))
    source.errors = [TransientApiError("429", code="RESOURCE_EXHAUSTED") for _ in range(4)]
    streamer, printed = _streamer(source)
    with capture_logs() as logs:
        _observed_start(streamer, _fresh())
        _wait_for(lambda: len(printed) == 4)
        result = streamer.finish(_ended())
    events = [record["event"] for record in logs]
    assert sum(event.startswith("job log streaming paused") for event in events) == 1
    assert events.count("job log streaming resumed") == 1
    assert result.details["vertex_logs"]["refused"] == 4
    assert len(printed) == 4


def test_permission_denied_turns_streaming_off_with_one_warning_naming_the_permission() -> None:
    """AuthError: one warning naming logging.logEntries.list, no more reads, `off` in the summary."""
    source = FakeSource(_now_entries(4))
    source.errors = [
        AuthError("PERMISSION_DENIED: Permission 'logging.logEntries.list' denied", code="PERMISSION_DENIED")
    ]
    streamer, printed = _streamer(source)
    with capture_logs() as logs:
        _observed_start(streamer, _fresh())
        started = time.monotonic()
        result = streamer.finish(_ended())
    assert time.monotonic() - started < 1.0  # nothing to drain from a reader that is off
    warnings = [record for record in logs if record["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["permission"] == "logging.logEntries.list"
    assert "logging.logEntries.list" in warnings[0]["event"]
    assert len(source.filters) == 1
    assert printed == []
    assert result.details["vertex_logs"]["off"].startswith("PERMISSION_DENIED")


def test_an_invalid_read_turns_streaming_off_without_failing_anything() -> None:
    """Any other API error (e.g. INVALID_ARGUMENT): one warning, streaming off."""
    source = FakeSource([])
    source.errors = [ApiError("INVALID_ARGUMENT: bad filter", code="INVALID_ARGUMENT")]
    streamer, _ = _streamer(source)
    with capture_logs() as logs:
        _observed_start(streamer, _fresh())
        result = streamer.finish(_ended())
    assert [r["event"] for r in logs if r["log_level"] == "warning"] == [
        "cannot read the job's logs; streaming is off for this run"
    ]
    assert result.details["vertex_logs"]["off"] == "INVALID_ARGUMENT: INVALID_ARGUMENT: bad filter"


def test_lines_over_the_budget_are_dropped_counted_and_warned_about_once() -> None:
    """max_lines_per_minute=5 and 40 entries: 5 printed, 35 dropped, one warning."""
    source = FakeSource(_now_entries(40), page_size=1000)
    streamer, printed = _streamer(source, max_lines_per_minute=5)
    with capture_logs() as logs:
        _observed_start(streamer, _fresh())
        result = streamer.finish(_ended())
    assert len(printed) == 5
    assert (result.details["vertex_logs"]["printed"], result.details["vertex_logs"]["dropped"]) == (5, 35)
    drops = [r for r in logs if "STREAM_LOGS_MAX_LINES_PER_MINUTE=5" in r["event"]]
    assert len(drops) == 1


def test_a_job_created_before_this_process_is_a_reattach_streamed_from_now() -> None:
    """Reattached (the job is older than the process): streaming starts at now - lag, as the first record says."""
    old = _now_entries(3)
    source = FakeSource(old)
    streamer, printed = _streamer(source, lag=0.0)
    view = JobView(
        name=JOB, state="JOB_STATE_RUNNING", create_time=(datetime.now(UTC) - timedelta(hours=1)).isoformat()
    )
    time.sleep(0.01)
    with capture_logs() as logs:
        _observed_start(streamer, view)
        result = streamer.finish(_ended())
    first = next(record for record in logs if record["event"].startswith("streaming the job's logs"))
    assert first["reattached"] is True
    assert "reattached" in first["event"]
    assert printed == []  # written before this pod's stream started
    assert result.details["vertex_logs"]["streamed_from"] > old[-1].timestamp.isoformat()


def test_a_pipeline_streams_its_own_entries_and_each_task_job_as_snapshots_name_it() -> None:
    """PipelineJob: its own clause at start; a task's CustomJob joins when a snapshot names it, tagged with the task."""
    name = "projects/demo/locations/us-central1/pipelineJobs/nightly-1"
    source = FakeSource([])
    streamer, printed = _streamer(source, kind="pipeline")
    views: Iterator[JobView] = iter(
        [
            _fresh(name),
            _fresh(name, task_jobs={"train": "projects/demo/locations/us-central1/customJobs/777"}),
        ]
    )

    class Backend:
        def get(self, job: str, *, timeout: float) -> JobView:
            return next(views)

    backend: Any = streamer.observe(Backend())  # type: ignore[arg-type]
    backend.get(name, timeout=1.0)
    streamer.start(name)
    _wait_for(lambda: len(source.filters) >= 1)
    assert 'pipeline_job_id="nightly-1"' in source.filters[0]
    source.add(*_now_entries(2, job_id="777"))
    backend.get(name, timeout=1.0)
    _wait_for(lambda: len(printed) == 2)
    streamer.finish(_ended(name))
    assert custom_job_clause("777") in source.filters[-1]
    assert {line["vertex_log"]["pipeline_task"] for line in printed} == {"train"}


def test_finish_without_a_known_job_leaves_the_result_alone() -> None:
    """A run that never learned its job (skipped, failed before submit): no summary, no thread."""
    streamer, _ = _streamer(FakeSource([]))
    result = RunResult(Outcome.SKIPPED, ExitCode.OK)
    assert streamer.finish(result) is result


def test_the_next_attempts_job_is_streamed_too() -> None:
    """A resubmitted run has a second job: its entries are read from its start, the first job's stay in the read."""
    source = FakeSource(_now_entries(1))
    streamer, printed = _streamer(source)
    _observed_start(streamer, _fresh())
    second = f"{JOB.rsplit('/', 1)[0]}/456"
    streamer.start(second)
    source.add(*_now_entries(2, job_id="456"))
    _wait_for(lambda: len(printed) == 3)
    streamer.finish(_ended(second))
    assert custom_job_clause("456") in source.filters[-1]
    assert custom_job_clause(JOB.rsplit("/", 1)[-1]) in source.filters[-1]
