"""The Vertex job's own Cloud Logging entries, streamed onto the launcher's stdout (``STREAM_LOGS=true``).

Built by the composition root (``__main__._launch``) with a ``LogSource`` (``logsource.GapicLogSource``, or a test's
fake) and the stdout writer of ``logs``; ``observe`` wraps the job backend so the streamer sees every job snapshot
the watcher reads (create time, pipeline task jobs) without an API call of its own; the watcher's ``on_job``
calls ``start``; after the watch, ``finish`` drains (bounded) and adds the ``vertex_logs`` summary to the result.

How entries are read (``entries.list``, one reader thread, every entry once and in timestamp order):

- one filter for everything the run's job writes: a CustomJob's ``ml_job`` entries; a PipelineJob's own entries
  and those of each task's CustomJob, added as the watcher's snapshots name them (``JobView.task_jobs``);
- a read asks for ``timestamp >= floor`` in ascending order, page by page (``MAX_PAGES_PER_POLL`` pages, the rest
  continues at the next poll through the page token); after a complete read ``floor`` moves to the time that read
  began, minus ``lag`` (the pod's clock is taken to be NTP-close to Google's): entries that reach Logging up to
  ``lag`` seconds late are read on a later pass, and their ``insertId`` (kept while inside that window) makes sure
  each is printed once;
- entries are held until they are ``lag`` seconds older than the newest entry or the clock, then printed in
  (timestamp, insertId) order; an entry later than that is printed when it arrives;
- the pause between reads adapts (``ReadPacer``): ``poll`` seconds while reads succeed; each refusal (429, or an
  outage) doubles it up to 120 s; three refusals in a row: one warning, streaming paused (reads continue at the
  backed-off pace; a success says it resumed). PERMISSION_DENIED: one warning naming ``logging.logEntries.list``,
  streaming off. Nothing here ever changes the run's outcome or exit code;
- at most ``max_lines_per_minute`` lines are printed (a token bucket); the rest are counted as dropped;
- a fresh job streams from its create time; a reattached one (created before this process started: a retried pod
  cannot know what the earlier pod printed) from now, as the first record says;
- after the job ends: reads continue until entries up to ``end_time`` + min(``SETTLE_SECONDS``, ``lag``) have had
  ``lag`` seconds to arrive, at most ``drain`` seconds; a stop signal skips the drain (held entries are printed,
  no call is made).
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import structlog

from vertex_launcher.clock import Clock
from vertex_launcher.errors import AuthError, LauncherError, TransientApiError
from vertex_launcher.jobs import JobBackend, JobKind, JobRequest, JobView
from vertex_launcher.result import RunResult, is_terminal

log = structlog.get_logger(__name__)

READ_PERMISSION = "logging.logEntries.list"
PAGE_SIZE = 1000
MAX_PAGES_PER_POLL = 10
#: Longest pause between reads after refusals: a longer one starves a launcher when many share one project's
#: quota (``make bench``, phase logstream).
MAX_POLL_SECONDS = 120.0
#: Refusals in a row after which streaming is reported paused.
PAUSE_AFTER_REFUSALS = 3
#: Entries timestamped up to this long after the job's end_time are still waited for (the service's last lines);
#: never longer than the lag (LAG=0: no waiting at all).
SETTLE_SECONDS = 5.0
#: During the drain, read at least this often.
DRAIN_POLL_SECONDS = 2.0
#: A created job counts as this run's own (stream from its start) unless it is older than the process by this much.
REATTACH_MARGIN_SECONDS = 5.0
#: Longest message printed; the rest is cut (an entry may hold up to 256 KB).
MAX_MESSAGE_CHARS = 16_000
#: Most entries held for ordering before the oldest are printed anyway (memory bound).
MAX_HELD = 20_000
#: How long ``stop`` waits for the reader thread.
STOP_JOIN_SECONDS = 1.0


# --- what is read ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntryView:
    """One Cloud Logging entry as the streamer needs it, free of any vendor type."""

    timestamp: datetime
    insert_id: str
    log_name: str
    severity: str
    message: str
    resource_type: str
    resource_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[datetime, str]:
        """Cloud Logging's order: timestamp, then insertId."""
        return self.timestamp, self.insert_id


class Page(NamedTuple):
    """One page of ``entries.list``."""

    entries: list[LogEntryView]
    next_page_token: str


class LogSource(Protocol):
    """``entries.list`` of one project. Errors are ``vertex_launcher.errors`` types."""

    def list_entries(self, *, filter_: str, page_token: str, page_size: int) -> Page:
        """One page of the entries matching ``filter_``, in ascending timestamp order."""
        ...

    def close(self) -> None:
        """Release the connection; a call in flight fails."""
        ...


def custom_job_clause(job_id: str) -> str:
    """The entries of one CustomJob (its replicas and the service's own lines)."""
    return f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'


def pipeline_clause(pipeline_job_id: str) -> str:
    """The entries of the PipelineJob itself (state and task events)."""
    return (
        f'resource.type="aiplatform.googleapis.com/PipelineJob" AND resource.labels.pipeline_job_id="{pipeline_job_id}"'
    )


def rfc3339(moment: datetime) -> str:
    """A UTC instant with microseconds, as the Logging filter language takes it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- pure parts: pacing, output budget, the read window ----------------------------------------------------------


@dataclass
class ReadPacer:
    """The pause before the next read: ``base`` while reads succeed; doubled per refusal up to ``maximum``.

    Never shorter than the server's RetryInfo (Cloud Logging sends none). A success after refusals brings the
    pause back down by ``recovery`` per read (not at once), so a fleet of launchers that shares one project's read
    quota settles near the rate the quota allows instead of oscillating.
    """

    base: float
    maximum: float = MAX_POLL_SECONDS
    recovery: float = 0.75
    jitter: float = 0.2
    interval: float = 0.0
    refusals: int = 0

    def __post_init__(self) -> None:
        self.interval = self.interval or self.base

    def succeeded(self, rng: random.Random) -> float:
        """A read was answered: the pause before the next one."""
        self.refusals = 0
        self.interval = max(self.base, self.interval * self.recovery)
        return self._jittered(rng)

    def refused(self, rng: random.Random, retry_after: float | None = None) -> float:
        """A read was refused (429/outage): the (longer) pause before trying again."""
        self.refusals += 1
        self.interval = min(self.maximum, self.interval * 2.0)
        return max(self._jittered(rng), retry_after or 0.0)

    def _jittered(self, rng: random.Random) -> float:
        return self.interval * (1.0 - self.jitter * rng.random())


@dataclass
class LineBudget:
    """A token bucket of output lines: ``per_minute`` a minute, bursts up to a minute's worth."""

    per_minute: int
    tokens: float = -1.0
    last: float | None = None

    def take(self, now: float) -> bool:
        """Whether one more line may be printed at monotonic time ``now``."""
        if self.tokens < 0:
            self.tokens = float(self.per_minute)
        if self.last is not None:
            self.tokens = min(float(self.per_minute), self.tokens + (now - self.last) * self.per_minute / 60.0)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class EntryWindow:
    """Which entries to ask for next, which are new, and which may be printed: exactly once, in order.

    ``floors`` maps each filter clause to the lowest timestamp still to be read for it. A read (``query``, its pages
    through ``accept``, ``read_complete``) may take a while and pages past entries that arrive meanwhile, so the
    floors move up only to the time the read *began* (the clock then, or the newest timestamp known if the server
    runs ahead of the clock), minus ``lag``: an entry that arrives at most ``lag`` late and is older than that was
    readable when the read began, so the read found it. ``accept`` takes one entry (False: seen before);
    ``ready`` returns the held entries that are ``lag`` older than the newest timestamp read or the clock, in
    order. Pure: no clock, no I/O.
    """

    def __init__(self, lag: float) -> None:
        self.lag = timedelta(seconds=lag)
        self.floors: dict[str, datetime] = {}
        self.newest: datetime | None = None
        self._newest_at_read_start: datetime | None = None
        self._seen: dict[str, datetime] = {}
        self._held: list[tuple[tuple[datetime, str], LogEntryView]] = []

    def add_clause(self, clause: str, since: datetime) -> bool:
        """Start reading ``clause`` from ``since``; False if it is read already."""
        if clause in self.floors:
            return False
        self.floors[clause] = since
        return True

    def query(self, now: datetime | None = None) -> str:
        """Begin a read at ``now``: its filter, each group of clauses with its own lower bound."""
        known = [moment for moment in (self.newest, now) if moment is not None]
        self._newest_at_read_start = max(known) if known else None
        groups: dict[datetime, list[str]] = {}
        for clause, floor in self.floors.items():
            groups.setdefault(floor, []).append(clause)
        parts = []
        for floor, clauses in sorted(groups.items()):
            either = " OR ".join(f"({clause})" for clause in clauses)
            parts.append(f'(({either}) AND timestamp>="{rfc3339(floor)}")')
        return " OR ".join(parts)

    def accept(self, entry: LogEntryView) -> bool:
        """Take a read entry; False if it was taken before."""
        if entry.insert_id in self._seen:
            return False
        self._seen[entry.insert_id] = entry.timestamp
        if self.newest is None or entry.timestamp > self.newest:
            self.newest = entry.timestamp
        heapq.heappush(self._held, (entry.key, entry))
        return True

    def read_complete(self) -> None:
        """A read got to its last page: move every floor up to (newest when it began) - lag; forget older ids."""
        if self._newest_at_read_start is None:
            return
        floor = self._newest_at_read_start - self.lag
        self.floors = {clause: max(since, floor) for clause, since in self.floors.items()}
        lowest = min(self.floors.values(), default=floor)
        self._seen = {key: moment for key, moment in self._seen.items() if moment >= lowest}

    def ready(self, now: datetime | None) -> list[LogEntryView]:
        """Held entries that may be printed now, in order (``now=None``: all of them)."""
        horizon = None
        if now is not None:
            horizon = max(now, self.newest or now) - self.lag
        out: list[LogEntryView] = []
        while self._held and (horizon is None or self._held[0][0][0] <= horizon or len(self._held) > MAX_HELD):
            _, entry = heapq.heappop(self._held)
            out.append(entry)
        return out

    @property
    def held(self) -> int:
        """Entries read but not yet printed."""
        return len(self._held)


# --- the streamer ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamPolicy:
    """The STREAM_LOGS_* settings."""

    poll: float = 30.0
    lag: float = 10.0
    drain: float = 30.0
    max_lines_per_minute: int = 1000


@dataclass
class _Stats:
    printed: int = 0
    dropped: int = 0
    reads: int = 0
    refused: int = 0
    streamed_from: str | None = None
    drained: bool | None = None
    off: str | None = None
    paused: bool = False


class LogStreamer:
    """Reads the run's job's entries on a daemon thread and prints them as stdout records."""

    def __init__(
        self,
        *,
        source_factory: Callable[[], LogSource],
        write: Callable[[dict[str, Any]], None],
        clock: Clock,
        policy: StreamPolicy,
        kind: JobKind,
        logs_url: Callable[[str], str],
        rng: random.Random | None = None,
    ) -> None:
        self._source_factory = source_factory
        self._write = write
        self._clock = clock
        self._policy = policy
        self._kind = kind
        self._logs_url = logs_url
        self._rng = rng or random.Random()
        self._process_start = clock.now()
        self._window = EntryWindow(policy.lag)
        self._budget = LineBudget(policy.max_lines_per_minute)
        self._pacer = ReadPacer(policy.poll)
        self._stats = _Stats()
        self._lock = threading.Lock()  # the window, the stats and the output gate
        self._wake = threading.Event()
        self._drained = threading.Event()
        self._views: dict[str, JobView] = {}
        self._task_of: dict[str, str] = {}  # task CustomJob id → pipeline task name
        self._job: str | None = None
        self._source: LogSource | None = None
        self._thread: threading.Thread | None = None
        self._drain_until: float | None = None
        self._drain_deadline: float | None = None
        self._closed = False
        self._page_token = ""
        self._query = ""
        self._dropped_reported = 0
        self._last_drop_warning: float | None = None

    # --- wiring (main thread) ---

    def observe(self, backend: JobBackend) -> JobBackend:
        """``backend``, reporting every job snapshot it returns to this streamer."""
        return _ObservedBackend(backend, self._see)

    def start(self, job_name: str) -> None:
        """The run's job is known: start reading its entries.

        A later job (the run's next attempt) is added to the same read, from its start; the same job again changes
        nothing.
        """
        with self._lock:
            if self._job == job_name or self._closed or self._clock.stop_reason is not None:
                return
            if self._job is not None:
                self._follow_next_attempt(job_name)
                return
            self._job = job_name
            view = self._views.get(job_name)
            since, reattached = self._stream_start(view)
            job_id = job_name.rsplit("/", 1)[-1]
            clause = custom_job_clause(job_id) if self._kind == "custom" else pipeline_clause(job_id)
            self._window.add_clause(clause, since)
            if view is not None:
                self._add_tasks(view, since)
            self._stats.streamed_from = rfc3339(since)
        where = "now (reattached: what an earlier pod printed is not repeated)" if reattached else "the job's start"
        log.info(
            f"streaming the job's logs from {where}",
            job=job_name,
            streamed_from=rfc3339(since),
            reattached=reattached,
            poll_seconds=self._policy.poll,
            logs_url=self._logs_url(job_name),
        )
        self._thread = threading.Thread(target=self._run, name="vertex-launcher-logstream", daemon=True)
        self._thread.start()

    def _follow_next_attempt(self, job_name: str) -> None:
        """With the lock held: read the next attempt's entries too (the earlier attempt's stay in the read)."""
        self._job = job_name
        view = self._views.get(job_name)
        since = (_parse_time(view.create_time) if view is not None else None) or self._clock.now()
        job_id = job_name.rsplit("/", 1)[-1]
        clause = custom_job_clause(job_id) if self._kind == "custom" else pipeline_clause(job_id)
        self._window.add_clause(clause, since)
        if view is not None:
            self._add_tasks(view, since)
        self._wake.set()
        log.info("streaming the next attempt's logs too", job=job_name, streamed_from=rfc3339(since))

    def finish(self, result: RunResult) -> RunResult:
        """After the watch: drain (unless stopped), stop, and add ``vertex_logs`` to the result's details."""
        if self._job is None:
            self.stop()
            return result
        if self._thread is not None and self._clock.stop_reason is None and is_terminal(result.state):
            end = _parse_time(result.details.get("end_time")) or self._clock.now()
            self._begin_drain(end)
            self._drained.wait(self._policy.drain + STOP_JOIN_SECONDS)
        self.stop()
        return replace(result, details={**result.details, "vertex_logs": self.summary()})

    def stop(self) -> None:
        """Stop reading, print what is held, and print nothing after this returns. Never raises."""
        with self._lock:
            if self._closed:
                return
            self._flush(None)
            self._closed = True
            source = self._source
        self._wake.set()
        if source is not None:
            try:
                source.close()
            except Exception as exc:  # closing must not fail the run
                log.debug("closing the log reader failed", error=exc)
        if self._thread is not None:
            self._thread.join(STOP_JOIN_SECONDS)

    def summary(self) -> dict[str, Any]:
        """What streaming did, for the result record."""
        with self._lock:
            stats = self._stats
            out: dict[str, Any] = {
                "printed": stats.printed,
                "dropped": stats.dropped,
                "reads": stats.reads,
                "refused": stats.refused,
                "streamed_from": stats.streamed_from,
            }
            if stats.drained is not None:
                out["drained"] = stats.drained
            if stats.off:
                out["off"] = stats.off
            return out

    # --- snapshots ---

    def _see(self, view: JobView) -> None:
        with self._lock:
            self._views[view.name] = view
            if self._job == view.name and not self._closed:
                self._add_tasks(view, _parse_time(self._stats.streamed_from) or self._clock.now())

    def _add_tasks(self, view: JobView, since: datetime) -> None:
        for task, job_name in sorted(view.task_jobs.items()):
            job_id = job_name.rsplit("/", 1)[-1]
            if self._window.add_clause(custom_job_clause(job_id), since):
                self._task_of[job_id] = task
                self._wake.set()

    def _stream_start(self, view: JobView | None) -> tuple[datetime, bool]:
        created = _parse_time(view.create_time) if view is not None else None
        if created is None:
            return self._clock.now() - timedelta(seconds=self._policy.lag), False
        if created < self._process_start - timedelta(seconds=REATTACH_MARGIN_SECONDS):
            return self._clock.now() - timedelta(seconds=self._policy.lag), True
        return created - timedelta(seconds=1), False

    def _begin_drain(self, end: datetime) -> None:
        now, wall = self._clock.monotonic(), self._clock.now()
        # Entries up to end + settle need `lag` to arrive; a job end ahead of this clock counts from now.
        settle = min(SETTLE_SECONDS, self._policy.lag)
        waited_for = min(end, wall) + timedelta(seconds=settle + self._policy.lag)
        with self._lock:
            self._drain_until = now + max(0.0, (waited_for - wall).total_seconds())
            self._drain_deadline = now + self._policy.drain
        self._wake.set()

    # --- the reader thread ---

    def _run(self) -> None:
        try:
            self._read_until_done()
        finally:
            self._drained.set()  # nobody waits for a reader that is gone

    def _read_until_done(self) -> None:
        try:
            self._source = self._source_factory()
        except LauncherError as exc:
            self._turn_off(exc)
            return
        except Exception as exc:  # a broken reader must never break the run
            self._turn_off(LauncherError(f"{type(exc).__name__}: {exc}"))
            return
        wait = 0.0
        while True:
            if self._wake.wait(wait):
                self._wake.clear()
            with self._lock:
                if self._closed or self._stats.off:
                    return
                draining = self._drain_deadline is not None
            if self._clock.stop_reason is not None and not draining:
                self._wake.wait(DRAIN_POLL_SECONDS)  # stopping: no more reads; wait for stop()
                continue
            wait = self._poll()
            if self._drain_deadline is not None:
                if self._drain_finished():
                    return
                if self._pacer.refusals == 0:  # draining: read again soon, unless Logging is refusing reads
                    wait = min(wait, DRAIN_POLL_SECONDS)

    def _poll(self) -> float:
        """Read up to MAX_PAGES_PER_POLL pages; the pause before the next read."""
        assert self._source is not None
        with self._lock:
            if not self._page_token:
                self._query = self._window.query(self._clock.now())
            query, token = self._query, self._page_token
        for _ in range(MAX_PAGES_PER_POLL):
            try:
                page = self._source.list_entries(filter_=query, page_token=token, page_size=PAGE_SIZE)
            except TransientApiError as exc:
                return self._refused(exc)
            except LauncherError as exc:
                self._turn_off(exc)
                return MAX_POLL_SECONDS
            except Exception as exc:  # e.g. the channel closed by stop(): end quietly
                with self._lock:
                    closed = self._closed
                if not closed:
                    self._turn_off(LauncherError(f"{type(exc).__name__}: {exc}"))
                return MAX_POLL_SECONDS
            with self._lock:
                self._stats.reads += 1
                for entry in page.entries:
                    self._window.accept(entry)
                token = self._page_token = page.next_page_token
                if not token:
                    self._window.read_complete()
                self._flush(self._clock.now())
            if not token:
                break
        with self._lock:
            if self._stats.paused and not self._closed:
                log.info("job log streaming resumed", job=self._job)
            self._stats.paused = False
        return self._pacer.succeeded(self._rng)

    def _refused(self, exc: TransientApiError) -> float:
        wait = self._pacer.refused(self._rng, exc.retry_after)
        with self._lock:
            self._stats.refused += 1
            if self._closed or self._stats.paused or self._pacer.refusals < PAUSE_AFTER_REFUSALS:
                return wait
            self._stats.paused = True
            log.warning(
                f"job log streaming paused: Cloud Logging refused {self._pacer.refusals} reads in a row; "
                f"trying again every {self._pacer.interval:.0f} s (the job and the run are not affected)",
                job=self._job,
                error_code=exc.code,
                error_message=exc.message,
                logs_url=self._logs_url(self._job or ""),
            )
        return wait

    def _turn_off(self, exc: LauncherError) -> None:
        with self._lock:
            if self._closed or self._stats.off:
                return
            self._stats.off = f"{exc.code or type(exc).__name__}: {exc.message}"[:300]
            self._say_off(exc)

    def _say_off(self, exc: LauncherError) -> None:
        fields: dict[str, Any] = {"job": self._job, "error_code": exc.code, "error_message": exc.message}
        if isinstance(exc, AuthError):
            log.warning(
                f"cannot read the job's logs: the principal lacks {READ_PERMISSION} (or Cloud Logging refused "
                "it); streaming is off for this run (the job and the run are not affected)",
                permission=READ_PERMISSION,
                fix=f"grant {READ_PERMISSION} on the project (the role in deploy/iam/vertex-launcher-role.yaml "
                "includes it, as does roles/logging.viewer), or set VERTEX_LAUNCHER_STREAM_LOGS=false",
                **fields,
            )
        else:
            log.warning("cannot read the job's logs; streaming is off for this run", **fields)

    def _drain_finished(self) -> bool:
        now = self._clock.monotonic()
        with self._lock:
            assert self._drain_until is not None
            assert self._drain_deadline is not None
            complete = not self._page_token and now >= self._drain_until
            if complete or now >= self._drain_deadline:
                self._stats.drained = complete
                self._drained.set()
                return True
        return False

    # --- output (called with the lock held) ---

    def _flush(self, now: datetime | None) -> None:
        if self._closed:
            return
        for entry in self._window.ready(now):
            if self._budget.take(self._clock.monotonic()):
                self._write(self._record(entry))
                self._stats.printed += 1
            else:
                self._stats.dropped += 1
        self._warn_drops()

    def _warn_drops(self) -> None:
        now = self._clock.monotonic()
        new = self._stats.dropped - self._dropped_reported
        if new <= 0 or (self._last_drop_warning is not None and now - self._last_drop_warning < 60.0):
            return
        self._dropped_reported, self._last_drop_warning = self._stats.dropped, now
        log.warning(
            f"the job writes more than STREAM_LOGS_MAX_LINES_PER_MINUTE={self._policy.max_lines_per_minute} lines "
            f"a minute: {new} line(s) not printed here (all of them are in Cloud Logging)",
            job=self._job,
            dropped=self._stats.dropped,
            logs_url=self._logs_url(self._job or ""),
        )

    def _record(self, entry: LogEntryView) -> dict[str, Any]:
        message = entry.message
        if len(message) > MAX_MESSAGE_CHARS:
            message = f"{message[:MAX_MESSAGE_CHARS]}… [{len(message) - MAX_MESSAGE_CHARS} characters cut]"
        job_id = entry.resource_labels.get("job_id") or entry.resource_labels.get("pipeline_job_id")
        vertex_log: dict[str, Any] = {
            "timestamp": rfc3339(entry.timestamp),
            "insert_id": entry.insert_id,
            "log_name": entry.log_name,
            "task": entry.resource_labels.get("task_name"),
            "resource_type": entry.resource_type,
            "job_id": job_id,
        }
        if job_id in self._task_of:
            vertex_log["pipeline_task"] = self._task_of[job_id]
        return {
            "severity": entry.severity or "DEFAULT",
            "time": rfc3339(entry.timestamp),
            "message": message,
            "vertex_log": vertex_log,
        }


class _ObservedBackend:
    """A ``JobBackend`` that hands every snapshot it returns to ``see`` (the streamer), then to the caller."""

    def __init__(self, inner: JobBackend, see: Callable[[JobView], None]) -> None:
        self._inner = inner
        self._see = see

    def _seen(self, view: JobView) -> JobView:
        self._see(view)
        return view

    def find_run(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend``."""
        return [self._seen(view) for view in self._inner.find_run(request, timeout=timeout)]

    def list_active(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """See ``JobBackend`` (other runs' jobs: not observed)."""
        return self._inner.list_active(request, timeout=timeout)

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        """See ``JobBackend`` (called on the watch loop's worker thread: ``see`` takes the streamer's lock)."""
        return self._seen(self._inner.create(request, timeout=timeout))

    def get(self, name: str, *, timeout: float) -> JobView:
        """See ``JobBackend``."""
        return self._seen(self._inner.get(name, timeout=timeout))

    def cancel(self, name: str, *, timeout: float) -> None:
        """See ``JobBackend``."""
        self._inner.cancel(name, timeout=timeout)
