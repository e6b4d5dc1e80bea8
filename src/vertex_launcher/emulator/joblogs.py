"""Simulated Cloud Logging entries of the emulator's jobs, derived lazily from each job's ``Timeline``.

Nothing is stored: every read computes the entries a job has written so far, deterministically, from its record
(name, worker pools, pipeline tasks) and the simulated clock. What a real Vertex AI job writes, and how it shows:

- a CustomJob: ``resource.type="ml_job"`` with labels ``project_id``, ``job_id``, ``task_name``. The service's own
  lines (``task_name="service"``, log ``ml.googleapis.com%2F<job id>``) at creation, start and end; while RUNNING
  each replica ``workerpool<i>-<j>`` (``replicaCount`` of each worker pool) writes ``lines_per_minute`` lines to
  the log ``workerpool<i>-<j>``, mixing severities; pool 0 writes ``textPayload``, the others ``jsonPayload``
  with a ``message``. Replicas write at the same instants, so timestamps tie and ``insertId`` orders them.
- a PipelineJob: ``resource.type="aiplatform.googleapis.com/PipelineJob"`` (labels ``pipeline_job_id``,
  ``location``, ``resource_container``) state events in ``aiplatform.googleapis.com%2Fpipeline_job_events``, and
  one CustomJob per pipeline task (its name in ``job_detail.task_details[].executor_detail.container_detail
  .main_job``, from ``task_job_name``) whose ``workerpool0-0`` writes ``ml_job`` lines like above.
- ingestion delay: an entry becomes readable ``delay`` simulated seconds after its timestamp, ``delay`` drawn
  (per entry, from its insertId) up to ``ingestion_delay_seconds``, so entries become readable out of order.

``lines_per_minute`` is per replica/task; the job label ``emulator-log-lines-per-minute`` overrides it per job
(e.g. 10000 for a job that floods its log). Settings change through ``POST /_emulator/logs``. Used by
``logging_api``; ``store`` calls ``task_job_name``.
"""

from __future__ import annotations

import collections
import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vertex_launcher.emulator.lifecycle import SimClock, Snapshot
from vertex_launcher.emulator.logfilter import SEVERITY_LEVELS, Node

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from vertex_launcher.emulator.store import JobRecord

LINES_LABEL = "emulator-log-lines-per-minute"
PIPELINE_RESOURCE = "aiplatform.googleapis.com/PipelineJob"
_INTEGER_SETTINGS = frozenset({"read_requests_per_minute", "tail_sessions_per_project"})
_END_MESSAGES = {
    "SUCCEEDED": ("INFO", "Job completed successfully."),
    "FAILED": ("ERROR", "Job failed. The replica workerpool0-0 exited with a non-zero status of 1."),
    "PARTIALLY_SUCCEEDED": ("WARNING", "Job partially succeeded: some replicas failed."),
    "EXPIRED": ("ERROR", "Job expired before it could start."),
    "CANCELLED": ("INFO", "Job was cancelled."),
}


@dataclass
class LogSettings:
    """How the simulated jobs log, and the Logging API's read limits."""

    #: Lines per simulated minute of each replica (CustomJob) or task (pipeline); 0 = silent jobs.
    lines_per_minute: float = 12.0
    #: An entry becomes readable up to this many simulated seconds after its timestamp.
    ingestion_delay_seconds: float = 2.0
    #: entries.list + entries.tail requests per minute and project (Cloud Logging: 60); 0 = no limit.
    read_requests_per_minute: int = 0
    #: Open entries.tail sessions per project (Cloud Logging: 10).
    tail_sessions_per_project: int = 10

    def update(self, data: dict[str, Any]) -> None:
        """Apply a partial dict; ValueError names an unknown key or a bad value (nothing changes then)."""
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            msg = f"unknown logs setting(s) {unknown}; known: {sorted(known)}"
            raise ValueError(msg)
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                msg = f"logs.{key} must be a number >= 0, got {value!r}"
                raise ValueError(msg)
        for key, value in data.items():
            setattr(self, key, int(value) if key in _INTEGER_SETTINGS else float(value))

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


@dataclass(frozen=True)
class SimEntry:
    """One simulated log entry. Times are epoch microseconds (``timestamp``) and simulated seconds (readable)."""

    project: str
    timestamp: int
    insert_id: str
    log_name: str
    severity: str
    resource_type: str
    resource_labels: dict[str, str]
    labels: dict[str, str]
    text: str | None
    json: dict[str, Any] | None
    readable_at: float
    receive_timestamp: int

    @property
    def key(self) -> tuple[int, str]:
        """The sort key of the Logging API: timestamp, then insertId."""
        return self.timestamp, self.insert_id

    def get(self, name: str) -> str | int | None:  # noqa: PLR0911 - one return per field family
        """A field as a filter sees it."""
        if name == "timestamp":
            return self.timestamp
        if name == "receiveTimestamp":
            return self.receive_timestamp
        if name == "severity":
            return SEVERITY_LEVELS[self.severity]
        simple = {"insertId": self.insert_id, "logName": self.log_name, "resource.type": self.resource_type}
        if name in simple:
            return simple[name]
        if name == "textPayload":
            return self.text
        if name.startswith("resource.labels."):
            return self.resource_labels.get(name[len("resource.labels.") :])
        if name.startswith("labels."):
            return self.labels.get(name[len("labels.") :])
        if name.startswith("jsonPayload.") and self.json is not None:
            value = self.json.get(name[len("jsonPayload.") :])
            return None if value is None else str(value)
        return None

    def to_pb(self) -> Message:
        """The ``google.logging.v2.LogEntry`` a client receives."""
        from google.cloud.logging_v2.types import LogEntry

        entry: Any = LogEntry.pb()(
            log_name=self.log_name, insert_id=self.insert_id, severity=SEVERITY_LEVELS[self.severity]
        )
        entry.resource.type = self.resource_type
        entry.resource.labels.update(self.resource_labels)
        entry.labels.update(self.labels)
        entry.timestamp.FromMicroseconds(self.timestamp)
        entry.receive_timestamp.FromMicroseconds(self.receive_timestamp)
        if self.json is not None:
            entry.json_payload.update(self.json)
        else:
            entry.text_payload = self.text or ""
        return entry  # type: ignore[no-any-return]


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b("|".join(str(part) for part in parts).encode(), digest_size=8).digest()


def task_job_name(pipeline_job_name: str, task_name: str) -> str:
    """The resource name of the CustomJob a pipeline task runs (``executor_detail.container_detail.main_job``)."""
    project_location = pipeline_job_name.split("/pipelineJobs/", maxsplit=1)[0]
    number = int.from_bytes(_digest(pipeline_job_name, task_name)) % (9 * 10**18) + 10**18
    return f"{project_location}/customJobs/{number}"


@dataclass(frozen=True)
class _Writer:
    """One source of lines: a replica of a CustomJob, or the workerpool0-0 of a pipeline task's CustomJob."""

    project: str
    job_id: str
    task: str
    json_payload: bool
    failing: bool


class LogSimulation:
    """The simulated entries, the read quota window and the open tail sessions (guarded by ``Api.lock``)."""

    def __init__(self) -> None:
        self.settings = LogSettings()
        self.window: collections.deque[float] = collections.deque()
        self.tails: collections.Counter[str] = collections.Counter()

    def reset(self) -> None:
        """Startup settings, an empty quota window (open tail sessions stay counted until they end)."""
        self.settings = LogSettings()
        self.window.clear()

    def entries(self, records: list[JobRecord], clock: SimClock, node: Node, project: str) -> list[SimEntry]:
        """Every readable entry of ``project`` matching ``node``, sorted by (timestamp, insertId)."""
        low, high = node.time_bounds()
        read = _Read(
            clock=clock,
            now=clock.now(),
            low=-math.inf if low is None else low / 1e6 - clock.wall_origin,
            high=math.inf if high is None else high / 1e6 - clock.wall_origin,
            wanted=node.job_ids(),
        )
        found = [
            entry
            for record in records
            if record.name.split("/")[1] == project
            for entry in self._record_entries(record, read)
            if entry.readable_at <= read.now and node.matches(entry.get)
        ]
        found.sort(key=lambda entry: entry.key)
        return found

    # --- generation ---

    def _record_entries(self, record: JobRecord, read: _Read) -> Iterator[SimEntry]:
        snap = record.timeline.at(read.now)
        parts = record.name.split("/")
        project, job_id = parts[1], parts[-1]
        failing = snap.state in ("FAILED", "PARTIALLY_SUCCEEDED")
        rate = self._rate(record)
        if record.kind.key == "custom":
            if read.wants(job_id):
                yield from self._service_lines(record, read, snap)
                for writer in _replicas(record.job, project, job_id, failing):
                    yield from self._lines(writer, read, snap, rate)
            return
        if read.wants(job_id):
            yield from self._pipeline_events(record, read, snap)
        for task in record.tasks:
            task_id = task_job_name(record.name, task).rsplit("/", 1)[-1]
            if read.wants(task_id):
                yield from self._lines(_Writer(project, task_id, "workerpool0-0", False, failing), read, snap, rate)

    def _rate(self, record: JobRecord) -> float:
        labels: Any = record.job.labels  # type: ignore[attr-defined]
        value = labels.get(LINES_LABEL)
        if value is not None and str(value).isdigit():
            return float(value)
        return self.settings.lines_per_minute

    def _entry(
        self,
        read: _Read,
        *,
        at: float,
        writer_key: tuple[object, ...],
        project: str,
        log_id: str,
        severity: str,
        resource: tuple[str, dict[str, str]],
        labels: dict[str, str],
        text: str | None = None,
        json: dict[str, Any] | None = None,
    ) -> SimEntry:
        digest = _digest(*writer_key)
        delay = int.from_bytes(digest[:2]) / 65535 * self.settings.ingestion_delay_seconds
        timestamp = round(read.clock.wall(at) * 1_000_000)
        return SimEntry(
            project=project,
            timestamp=timestamp,
            insert_id=digest.hex(),
            log_name=f"projects/{project}/logs/{quote(log_id, safe='')}",
            severity=severity,
            resource_type=resource[0],
            resource_labels=resource[1],
            labels=labels,
            text=text,
            json=json,
            readable_at=at + delay,
            receive_timestamp=timestamp + round(delay * 1_000_000),
        )

    def _service_lines(self, record: JobRecord, read: _Read, snap: Snapshot) -> Iterator[SimEntry]:
        project, job_id = record.name.split("/")[1], record.name.rsplit("/", 1)[-1]
        resource = ("ml_job", {"project_id": project, "job_id": job_id, "task_name": "service"})
        moments = [(record.timeline.created, "INFO", "Waiting for job to be provisioned.")]
        if snap.started is not None:
            moments.append((snap.started, "INFO", "Waiting for training program to start."))
        if snap.ended is not None and snap.state in _END_MESSAGES:
            severity, text = _END_MESSAGES[snap.state]
            moments.append((snap.ended, severity, text))
        for index, (at, severity, text) in enumerate(moments):
            yield self._entry(
                read,
                at=at,
                writer_key=(record.name, "service", index),
                project=project,
                log_id=f"ml.googleapis.com/{job_id}",
                severity=severity,
                resource=resource,
                labels={"ml.googleapis.com/job_id/log_area": "root"},
                text=text,
            )

    def _pipeline_events(self, record: JobRecord, read: _Read, snap: Snapshot) -> Iterator[SimEntry]:
        parts = record.name.split("/")
        project, location, job_id = parts[1], parts[3], parts[-1]
        resource_labels = {"pipeline_job_id": job_id, "location": location, "resource_container": f"projects/{project}"}
        moments = [(record.timeline.created, "PIPELINE_STATE_PENDING")]
        if snap.started is not None:
            moments.append((snap.started, "PIPELINE_STATE_RUNNING"))
        if snap.ended is not None:
            moments.append((snap.ended, f"PIPELINE_STATE_{snap.state}"))
        for index, (at, state) in enumerate(moments):
            yield self._entry(
                read,
                at=at,
                writer_key=(record.name, "pipeline", index),
                project=project,
                log_id="aiplatform.googleapis.com/pipeline_job_events",
                severity="ERROR" if state.endswith(("FAILED", "EXPIRED")) else "INFO",
                resource=(PIPELINE_RESOURCE, resource_labels),
                labels={},
                json={"message": f"PipelineJob {job_id} state changed to {state}.", "state": state},
            )

    def _lines(self, writer: _Writer, read: _Read, snap: Snapshot, rate: float) -> Iterator[SimEntry]:
        if snap.started is None or rate <= 0:
            return
        start = snap.started
        end = snap.ended if snap.ended is not None else read.now
        period = 60.0 / rate
        count = max(0, math.ceil((end - start) / period - 0.5))  # line k is written at start + (k + 0.5) × period
        first = max(0, math.floor((read.low - start) / period - 0.5) - 1) if read.low > -math.inf else 0
        last = count if read.high == math.inf else min(count, math.ceil((read.high - start) / period) + 1)
        resource = ("ml_job", {"project_id": writer.project, "job_id": writer.job_id, "task_name": writer.task})
        for k in range(first, last):
            at = start + (k + 0.5) * period
            if at >= end:
                break
            severity, message = _line(writer, k, last_line=snap.ended is not None and k == count - 1)
            payload: dict[str, Any] = {"text": message}
            if writer.json_payload:
                payload = {"json": {"message": message, "levelname": severity, "step": k}}
            yield self._entry(
                read,
                at=at,
                writer_key=(writer.job_id, writer.task, k),
                project=writer.project,
                log_id=writer.task,
                severity=severity,
                resource=resource,
                labels={"ml.googleapis.com/job_id/log_area": "user"},
                **payload,
            )


@dataclass(frozen=True)
class _Read:
    """One read: the clock, simulated now, the simulated time window a filter allows, and the job ids it wants."""

    clock: SimClock
    now: float
    low: float
    high: float
    wanted: frozenset[str] | None

    def wants(self, job_id: str) -> bool:
        return self.wanted is None or job_id in self.wanted


def _replicas(job: Any, project: str, job_id: str, failing: bool) -> Iterator[_Writer]:
    for pool_index, pool in enumerate(job.job_spec.worker_pool_specs):
        for replica in range(int(pool.replica_count) or (1 if pool_index == 0 else 0)):
            yield _Writer(project, job_id, f"workerpool{pool_index}-{replica}", pool_index % 2 == 1, failing)


def _line(writer: _Writer, k: int, *, last_line: bool) -> tuple[str, str]:
    if last_line and writer.failing and writer.task == "workerpool0-0":
        return "ERROR", "Traceback (most recent call last): RuntimeError: simulated training failure"
    if k % 10 == 7:
        return "WARNING", f"step {k}: gradient norm is large ({1.5 + k % 3:.1f}), clipping"
    if k % 17 == 3:
        return "DEBUG", f"step {k}: batch {k * 32}-{k * 32 + 31} loaded"
    return "INFO", f"step {k}: loss={1 / (1 + 0.05 * k):.4f}"
