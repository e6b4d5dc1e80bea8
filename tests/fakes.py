"""Hand-written fakes of the launcher's seams (the JobBackend), for unit tests of the watch loop."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from vertex_launcher.clock import FakeClock
from vertex_launcher.errors import AlreadyExistsError, ApiError, LauncherError, NotFoundError, TransientApiError
from vertex_launcher.jobs import JobRequest, JobView
from vertex_launcher.result import ACTIVE_STATES, is_terminal


@dataclass
class FakeBackend:
    """An in-memory Vertex: jobs advance one scripted state per ``get``; calls can be made to fail or to hang.

    ``hangs[method]`` calls of a method hang like an unanswering server: they take the whole deadline they were
    given (on ``clock``'s virtual time) and end DEADLINE_EXCEEDED; ``slow[method]`` seconds pass in every such call.
    ``timeouts`` records the deadline each call was given.
    """

    states: list[str] = field(default_factory=lambda: ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"])
    jobs: dict[str, JobView] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    failures: dict[str, list[LauncherError]] = field(default_factory=dict)
    on_create: Callable[[JobView], None] | None = None
    cancel_to: str = "JOB_STATE_CANCELLED"
    #: GETs a cancelled job answers CANCELLING before it reaches ``cancel_to``.
    cancelling_gets: int = 0
    clock: FakeClock | None = None
    hangs: dict[str, int] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    timeouts: list[tuple[str, float]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _progress: dict[str, int] = field(default_factory=dict)

    def _enter(self, method: str, timeout: float) -> None:
        self.timeouts.append((method, timeout))
        if self.clock is not None and method in self.slow:
            self.clock.pause(min(self.slow[method], timeout))
        if self.hangs.get(method, 0):
            self.hangs[method] -= 1
            self.calls.append(method)
            if self.clock is not None:
                self.clock.pause(timeout)
            raise TransientApiError("Deadline Exceeded", code="DEADLINE_EXCEEDED", ambiguous=method == "create")

    def _maybe_fail(self, method: str, timeout: float) -> None:
        self._enter(method, timeout)
        self.calls.append(method)
        queue = self.failures.get(method)
        if queue:
            raise queue.pop(0)

    def add(self, job: JobView) -> JobView:
        """Put a job in the fake server."""
        self.jobs[job.name] = job
        self._progress[job.name] = 0
        return job

    def find_run(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        self._maybe_fail("find_run", timeout)
        return [j for j in self.jobs.values() if j.labels.get("vertex-launcher-run") == request.run_label][::-1]

    def list_active(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        self._maybe_fail("list_active", timeout)
        return [
            j
            for j in self.jobs.values()
            if j.labels.get("vertex-launcher-schedule") == request.schedule_label
            and j.labels.get("k8s-namespace") == request.namespace_label
            and j.labels.get("vertex-launcher-run") != request.run_label
            and j.state.split("_STATE_")[1] in ACTIVE_STATES
        ]

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        self._enter("create", timeout)
        self.calls.append("create")
        noun = "customJobs" if request.kind == "custom" else "pipelineJobs"
        job_id = request.pipeline_job_id or str(next(self._ids))
        name = f"{request.parent}/{noun}/{job_id}"
        if name in self.jobs:
            raise AlreadyExistsError("exists", code="ALREADY_EXISTS")
        job = self.add(
            JobView(
                name=name,
                state="JOB_STATE_QUEUED",
                display_name=request.body["displayName"],
                labels=request.body["labels"],
            )
        )
        if self.on_create:
            self.on_create(job)
        queue = self.failures.get("create")
        if queue:
            raise queue.pop(0)  # the job was made, the answer was lost
        return job

    def get(self, name: str, *, timeout: float) -> JobView:
        self._maybe_fail("get", timeout)
        if name not in self.jobs:
            raise NotFoundError("no such job", code="NOT_FOUND")
        job = self.jobs[name]
        if not is_terminal(job.state) and not job.state.endswith("CANCELLING"):
            step = self._progress[name]
            if step < len(self.states):
                job = replace(job, state=self.states[step])
                self._progress[name] = step + 1
        elif job.state.endswith("CANCELLING"):
            if self._progress.get(f"{name}:cancelling", 0) < self.cancelling_gets:
                self._progress[f"{name}:cancelling"] = self._progress.get(f"{name}:cancelling", 0) + 1
            else:
                job = replace(job, state=self.cancel_to)
        self.jobs[name] = job
        return job

    def cancel(self, name: str, *, timeout: float) -> None:
        self._maybe_fail("cancel", timeout)
        job = self.jobs[name]
        if is_terminal(job.state):
            raise ApiError("already ended", code="FAILED_PRECONDITION")
        self.jobs[name] = replace(job, state="JOB_STATE_CANCELLING")

    def count(self, method: str) -> int:
        """How often a method was called."""
        return self.calls.count(method)
