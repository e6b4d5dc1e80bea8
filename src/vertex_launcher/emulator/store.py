"""The job store: records of both kinds, their materialised view at read time, list/page, cancel, force, JSON.

A record keeps the job as the client sent it (plus name) and its ``Timeline``; ``view`` fills in state, times,
error and pipeline task details from the clock on every read. Not thread-safe: ``service.Api`` holds the lock.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud.aiplatform_v1.types import pipeline_job
from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from vertex_launcher.emulator.errors import ApiError, invalid
from vertex_launcher.emulator.filters import JobView, Predicate
from vertex_launcher.emulator.joblogs import task_job_name
from vertex_launcher.emulator.lifecycle import FORCEABLE, TERMINAL, SimClock, Snapshot, Timeline
from vertex_launcher.emulator.resources import BY_COLLECTION, KINDS, Kind, split_name

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_TASK_STATE = pipeline_job.PipelineTaskDetail.State
_ERRORS: dict[str, tuple[int, str]] = {
    "FAILED": (3, "The replica workerpool0-0 exited with a non-zero status of 1 (simulated by the emulator)."),
    "EXPIRED": (4, "The job did not start before its scheduling timeout (simulated by the emulator)."),
    "PARTIALLY_SUCCEEDED": (3, "Some parts of the job failed (simulated by the emulator)."),
    "CANCELLED": (1, "CANCELED"),
}


@dataclass
class JobRecord:
    """One stored job."""

    kind: Kind
    seq: int
    name: str
    job: Message
    timeline: Timeline
    tasks: list[str] = field(default_factory=list)
    pipeline_name: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for the state file."""
        return {
            "kind": self.kind.key,
            "seq": self.seq,
            "name": self.name,
            "job": json_format.MessageToDict(self.job),
            "timeline": self.timeline.to_json(),
            "tasks": self.tasks,
            "pipeline_name": self.pipeline_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Inverse of ``to_json``."""
        kind = KINDS[data["kind"]]
        job = json_format.ParseDict(data["job"], kind.message())
        return cls(
            kind=kind,
            seq=int(data["seq"]),
            name=str(data["name"]),
            job=job,
            timeline=Timeline.from_json(data["timeline"]),
            tasks=list(data.get("tasks", [])),
            pipeline_name=str(data.get("pipeline_name", "")),
        )


def _stamp(target: timestamp_pb2.Timestamp, wall: float) -> None:
    target.FromMicroseconds(round(wall * 1e6))


def _task_states(outcome: str, count: int) -> list[Any]:
    if outcome == "SUCCEEDED":
        return [_TASK_STATE.SUCCEEDED] * count
    if outcome in ("CANCELLED", "CANCELLING"):
        return [getattr(_TASK_STATE, outcome)] * count
    if outcome in ("RUNNING", "PAUSED"):
        return [_TASK_STATE.RUNNING] * count
    if outcome in ("QUEUED", "PENDING"):
        return [_TASK_STATE.PENDING] * count
    return [_TASK_STATE.FAILED] + [_TASK_STATE.SKIPPED] * (count - 1)


class JobStore:
    """All jobs of both kinds, keyed by resource name."""

    def __init__(self, clock: SimClock, *, seed: int | None = None) -> None:
        self.clock = clock
        self._jobs: dict[str, JobRecord] = {}
        self._seq = 0
        self._rng = random.Random(seed)

    def new_id(self) -> str:
        """A fresh numeric job id like Vertex's (19 digits)."""
        while True:
            candidate = str(self._rng.randrange(10**18, 10**19))
            if not any(record.name.endswith("/" + candidate) for record in self._jobs.values()):
                return candidate

    def add(self, kind: Kind, parent: str, job: Message, timeline: Timeline, *, job_id: str | None = None) -> JobRecord:
        """Store a new job under ``parent``; ALREADY_EXISTS if ``job_id`` is taken."""
        name = f"{parent}/{kind.collection}/{job_id or self.new_id()}"
        if name in self._jobs:
            raise ApiError("ALREADY_EXISTS", f"{kind.title} {name} already exists.")
        self._seq += 1
        job.name = name  # type: ignore[attr-defined]
        record = JobRecord(kind=kind, seq=self._seq, name=name, job=job, timeline=timeline)
        if kind.key == "pipeline":
            record.pipeline_name, record.tasks = _pipeline_tasks(job)
        self._jobs[name] = record
        return record

    def find(self, kind: Kind, name: str) -> JobRecord:
        """The record called ``name``; NOT_FOUND otherwise (INVALID_ARGUMENT for a malformed name)."""
        parts = split_name(name)
        if parts is None or BY_COLLECTION[parts[2]] is not kind:
            msg = f"Invalid {kind.title} resource name: {name!r}."
            raise invalid(msg)
        record = self._jobs.get(name)
        if record is None or record.kind is not kind:
            raise ApiError("NOT_FOUND", f"{kind.title} {name} is not found.")
        return record

    def snapshot(self, record: JobRecord) -> Snapshot:
        """The record's lifecycle state now."""
        return record.timeline.at(self.clock.now())

    def view(self, record: JobRecord, *, listed: bool = False) -> Message:
        """The job as a client sees it now: state, timestamps, error, task details (not in a list view)."""
        snap = self.snapshot(record)
        job: Any = type(record.job)()
        job.CopyFrom(record.job)
        kind = record.kind
        job.state = (
            type(job).DESCRIPTOR.fields_by_name["state"].enum_type.values_by_name[kind.state_name(snap.state)].number
        )
        wall = self.clock.wall
        _stamp(job.create_time, wall(record.timeline.created))
        _stamp(job.update_time, wall(snap.updated))
        if snap.started is not None:
            _stamp(job.start_time, wall(snap.started))
        if snap.ended is not None:
            _stamp(job.end_time, wall(snap.ended))
        short = kind.state_name(snap.state)[len(kind.state_prefix) :]
        setup_error = record.timeline.setup_error if short == "FAILED" else None
        if short in _ERRORS:
            code, message = setup_error or _ERRORS[short]
            job.error.code = code
            job.error.message = message
        if kind.key == "pipeline" and snap.state != "QUEUED" and setup_error is None and not listed:
            self._fill_tasks(job, record, snap, short)
        return job  # type: ignore[no-any-return]

    def _fill_tasks(self, job: Any, record: JobRecord, snap: Snapshot, short: str) -> None:
        wall = self.clock.wall
        names = [record.pipeline_name or "pipeline", *record.tasks]
        states = _task_states(short, len(names))
        for task_id, (task_name, state) in enumerate(zip(names, states, strict=True), start=1):
            task = job.job_detail.task_details.add()
            task.task_id = task_id
            task.task_name = task_name
            task.task_unique_name = task_name
            if task_id > 1:
                task.parent_task_id = 1
                if state != _TASK_STATE.PENDING:  # the task's CustomJob, whose logs are the task's logs
                    task.executor_detail.container_detail.main_job = task_job_name(record.name, task_name)
            task.state = state
            _stamp(task.create_time, wall(record.timeline.created))
            if snap.started is not None:
                _stamp(task.start_time, wall(snap.started))
            if snap.ended is not None:
                _stamp(task.end_time, wall(snap.ended))
            if state == _TASK_STATE.FAILED:
                task.error.code = 3
                task.error.message = f"Task {task_name} failed (simulated by the emulator)."

    def job_view(self, record: JobRecord) -> JobView:
        """What a filter sees of the record now."""
        job: Any = self.view(record)
        times = {
            key: (getattr(job, key).ToDatetime(tzinfo=UTC) if job.HasField(key) else None)
            for key in ("create_time", "start_time", "end_time", "update_time")
        }
        state = type(job).DESCRIPTOR.fields_by_name["state"].enum_type.values_by_number[job.state].name
        strings: dict[str, str] = {}
        if record.kind.key == "pipeline":
            strings = {
                "pipeline_name": record.pipeline_name,
                "pipeline_job_user_id": record.name.rsplit("/", 1)[-1],
                "template_uri": job.template_uri,
                "template_metadata.version": job.template_metadata.version,
            }
        return JobView(
            labels=dict(job.labels),
            state=state,
            display_name=job.display_name,
            name=job.name,
            times=times,
            strings=strings,
        )

    def list_jobs(
        self, kind: Kind, parent: str, predicate: Predicate, *, page_size: int, page_token: str, order_by: str = ""
    ) -> tuple[list[Message], str]:
        """Jobs of ``kind`` under ``parent`` matching ``predicate``: one page and the next token.

        The order is what each API documents. ListCustomJobs has no order_by and documents no order: jobs come by
        id (which is random, so not by creation), and a client that wants the newest must sort. ListPipelineJobs
        takes ``order_by`` (create_time, update_time, end_time, start_time; ``desc`` after a field), default
        ``create_time desc``. Pipeline jobs are listed without ``job_detail``, as list views leave out details.
        """
        if page_size < 0:
            msg = f"page_size must not be negative, got {page_size}."
            raise invalid(msg)
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = _decode_token(page_token)
        sort_key = _pipeline_order(order_by) if kind.key == "pipeline" else _by_id
        prefix = f"{parent}/{kind.collection}/"
        matching = [
            (sort_key(view, record), record)
            for record in self._jobs.values()
            if record.kind is kind and record.name.startswith(prefix)
            for view in (self.job_view(record),)
            if predicate(view)
        ]
        matching.sort(key=lambda item: item[0])
        try:
            remaining = [item for item in matching if after is None or item[0] > after]
        except TypeError as exc:  # a token from another order, or forged
            msg = f"Invalid page token {page_token!r}."
            raise invalid(msg) from exc
        page = remaining[:size]
        token = _encode_token(page[-1][0]) if len(remaining) > size else ""
        return [self.view(record, listed=True) for _, record in page], token

    def cancel(self, kind: Kind, name: str) -> None:
        """Request cancellation; FAILED_PRECONDITION if the job already ended."""
        record = self.find(kind, name)
        snap = self.snapshot(record)
        if snap.state in TERMINAL:
            state = kind.state_name(snap.state)
            message = f"Cannot cancel {kind.title} {name} because it is in state {state}; it has already finished."
            raise ApiError("FAILED_PRECONDITION", message)
        if snap.state == "CANCELLING" or record.timeline.cancel_requested is not None:
            return
        record.timeline.cancel_requested = self.clock.now()

    def resolve(self, ref: str) -> JobRecord:
        """A record by full name or by its trailing id (control API)."""
        if ref in self._jobs:
            return self._jobs[ref]
        matches = [record for record in self._jobs.values() if record.name.rsplit("/", 1)[-1] == ref]
        if len(matches) != 1:
            raise ApiError("NOT_FOUND", f"No single job with id or name {ref!r}.")
        return matches[0]

    def force(self, ref: str, state: str) -> JobRecord:
        """Pin a job into ``state`` (short or full enum name) from now on."""
        record = self.resolve(ref)
        short = state.removeprefix(record.kind.state_prefix)
        if short not in FORCEABLE or record.kind.state_prefix + short not in record.kind.states:
            msg = f"Cannot force state {state!r} on a {record.kind.title}."
            raise invalid(msg)
        record.timeline.forced_state = short
        record.timeline.forced_at = self.clock.now()
        record.timeline.cancel_requested = None
        return record

    def records(self) -> list[JobRecord]:
        """All records, newest first."""
        return sorted(self._jobs.values(), key=lambda r: r.seq, reverse=True)

    def clear(self) -> None:
        """Forget every job."""
        self._jobs.clear()

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for the state file."""
        return {"seq": self._seq, "jobs": [record.to_json() for record in self._jobs.values()]}

    def load_json(self, data: dict[str, Any]) -> None:
        """Replace the contents with a ``to_json`` dump."""
        self._jobs = {}
        for item in data.get("jobs", []):
            record = JobRecord.from_json(item)
            self._jobs[record.name] = record
        self._seq = max([int(data.get("seq", 0)), *(r.seq for r in self._jobs.values())])


def _pipeline_tasks(job: Any) -> tuple[str, list[str]]:
    """(pipeline name, task names) from a PipelineJob's pipeline_spec (root.dag.tasks)."""
    if not job.HasField("pipeline_spec"):
        return "", []
    spec = json_format.MessageToDict(job.pipeline_spec)
    name = str(spec.get("pipelineInfo", {}).get("name", ""))
    tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
    return name, sorted(tasks) if isinstance(tasks, dict) else []


#: A position in a list's order: the sort values of one job, its name last (so every position is unique).
SortKey = tuple[float | str, ...]
_ORDER_FIELDS = ("create_time", "update_time", "end_time", "start_time")
_NO_TIME = 1e18  # jobs without the timestamp sort after those with one, in both directions


def _by_id(view: JobView, record: JobRecord) -> SortKey:
    return (record.name,)


def _pipeline_order(order_by: str) -> Callable[[JobView, JobRecord], SortKey]:
    """ListPipelineJobsRequest.order_by as a sort key; INVALID_ARGUMENT for anything it does not document."""
    terms: list[tuple[str, bool]] = []
    for part in (order_by or "create_time desc").split(","):
        words = part.split()
        if not words or words[0] not in _ORDER_FIELDS or len(words) > 2 or words[1:] not in ([], ["desc"], ["asc"]):
            msg = f"Invalid order_by {order_by!r}: use {', '.join(_ORDER_FIELDS)}, each optionally followed by desc."
            raise invalid(msg)
        terms.append((words[0], words[1:] == ["desc"]))

    def key(view: JobView, record: JobRecord) -> SortKey:
        values: list[float | str] = []
        for name, descending in terms:
            moment = view.times.get(name)
            if moment is None:
                values.append(_NO_TIME)
            else:
                values.append(-moment.timestamp() if descending else moment.timestamp())
        return (*values, record.name)

    return key


def _encode_token(key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str) -> SortKey | None:
    if not token:
        return None
    try:
        return tuple(json.loads(base64.urlsafe_b64decode(token.encode())))
    except ValueError as exc:
        msg = f"Invalid page token {token!r}."
        raise invalid(msg) from exc


def now_rfc3339(wall: float) -> str:
    """An RFC 3339 UTC string of an epoch time."""
    return datetime.fromtimestamp(wall, tz=UTC).isoformat().replace("+00:00", "Z")
