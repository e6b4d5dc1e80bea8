"""The launcher's view of Vertex jobs: request, snapshot and the backend seam, free of any vendor type.

``spec`` builds a ``JobRequest``; ``vertex`` implements ``JobBackend`` with the GAPIC clients and returns
``JobView`` snapshots; ``watch`` drives a ``JobBackend`` and never sees a protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

JobKind = Literal["custom", "pipeline"]

RUN_LABEL = "vertex-launcher-run"
SCHEDULE_LABEL = "vertex-launcher-schedule"
NAMESPACE_LABEL = "k8s-namespace"
#: The attempt number (1, 2, …) of each Vertex job of a run; a job without it is attempt 1.
ATTEMPT_LABEL = "vertex-launcher-attempt"
#: Which RESUBMIT_FALLBACKS choice an attempt used (0: the configured job); set only when fallbacks are configured.
FALLBACK_LABEL = "vertex-launcher-fallback"


@dataclass(frozen=True)
class JobRequest:
    """Everything needed to create (or find) this run's job. ``body`` is the REST JSON of a CustomJob/PipelineJob."""

    kind: JobKind
    parent: str
    body: dict[str, Any]
    run_label: str
    schedule_label: str
    pipeline_job_id: str | None = None
    #: The ``k8s-namespace`` label value, or None: part of the schedule's identity for the concurrency check.
    namespace_label: str | None = None
    #: Which attempt of the run this request makes (its ``vertex-launcher-attempt`` label).
    attempt: int = 1

    @property
    def project(self) -> str:
        """The project segment of the parent."""
        return self.parent.split("/")[1]

    @property
    def region(self) -> str:
        """The location segment of the parent."""
        return self.parent.split("/")[3]


@dataclass(frozen=True)
class Pool:
    """The machines of one worker pool: what usage (machine- and accelerator-seconds) is counted from."""

    machine_type: str
    replica_count: int = 1
    accelerator_type: str | None = None
    accelerator_count: int = 0


@dataclass(frozen=True)
class JobView:
    """A snapshot of one Vertex job."""

    name: str
    state: str
    display_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    create_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    error: dict[str, Any] | None = None
    tasks: dict[str, Any] | None = None
    #: Pipelines: pipeline task name → the resource name of the CustomJob that runs it (whose logs are the task's).
    task_jobs: dict[str, str] = field(default_factory=dict)
    #: CustomJob worker pools (empty for PipelineJobs, whose tasks' machines the launcher does not see).
    pools: tuple[Pool, ...] = ()
    #: CustomJob ``jobSpec.scheduling.strategy`` (e.g. SPOT), None when unset or for PipelineJobs.
    strategy: str | None = None

    @property
    def attempt(self) -> int:
        """The job's attempt number (label ``vertex-launcher-attempt``; 1 without it)."""
        value = self.labels.get(ATTEMPT_LABEL, "1")
        return int(value) if value.isdigit() and int(value) > 0 else 1

    @property
    def fallback(self) -> int:
        """Which RESUBMIT_FALLBACKS choice the job used (label ``vertex-launcher-fallback``; 0 without it)."""
        value = self.labels.get(FALLBACK_LABEL, "0")
        return int(value) if value.isdigit() else 0

    @property
    def region(self) -> str:
        """The location segment of the job's resource name."""
        return self.name.split("/")[3]


class JobBackend(Protocol):
    """The Vertex job API as the watch loop needs it. Errors are ``vertex_launcher.errors`` types.

    ``timeout`` is the deadline of the one call in seconds; the watch loop derives it from what is left of its
    budgets (TIMEOUT_SECONDS, TRANSIENT_RETRY_SECONDS, the cancel grace after a stop).
    """

    def find_run(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """Jobs carrying this run's label, newest (by create time) first."""
        ...

    def list_active(self, request: JobRequest, *, timeout: float) -> list[JobView]:
        """Non-terminal jobs of this schedule (same schedule and namespace labels) made by other runs."""
        ...

    def create(self, request: JobRequest, *, timeout: float) -> JobView:
        """Submit the job once; never retried here."""
        ...

    def get(self, name: str, *, timeout: float) -> JobView:
        """The job's current snapshot."""
        ...

    def cancel(self, name: str, *, timeout: float) -> None:
        """Ask Vertex to cancel; ApiError(code=FAILED_PRECONDITION) when it has already ended."""
        ...


def console_url(kind: JobKind, name: str, project: str | None = None) -> str:
    """The Cloud Console page of a job resource name."""
    parts = name.split("/")
    project = project or parts[1]
    location, job_id = parts[3], parts[-1]
    if kind == "pipeline":
        return (
            f"https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/runs/{job_id}?project={project}"
        )
    return f"https://console.cloud.google.com/vertex-ai/locations/{location}/training/{job_id}/cpu?project={project}"


def logs_url(kind: JobKind, name: str, project: str | None = None) -> str:
    """A Logs Explorer URL with the job's own logs, filtered as the Cloud Console's "view logs" links filter them."""
    parts = name.split("/")
    project = project or parts[1]
    job_id = parts[-1]
    if kind == "pipeline":
        query = f'resource.type="aiplatform.googleapis.com/PipelineJob"\nresource.labels.pipeline_job_id="{job_id}"'
    else:
        query = f'resource.type="ml_job"\nresource.labels.job_id="{job_id}"'
    return f"https://console.cloud.google.com/logs/query;query={quote(query, safe='')}?project={project}"
