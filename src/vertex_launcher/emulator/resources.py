"""The two job resources the emulator serves (CustomJob, PipelineJob): names, state enums and proto types.

The only module here that imports ``google.cloud.aiplatform_v1`` types besides the transports; ``store``,
``validation`` and ``service`` describe a job kind through ``Kind``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.cloud.aiplatform_v1.types import custom_job, job_state, pipeline_job, pipeline_state
from google.protobuf.message import Message


@dataclass(frozen=True)
class Kind:
    """One job resource type."""

    key: str
    collection: str
    title: str
    message: type[Message]
    state_prefix: str
    states: frozenset[str]

    def state_name(self, short: str) -> str:
        """Full enum name of a short state (``RUNNING`` → ``JOB_STATE_RUNNING``), mapped into this kind's enum."""
        name = self.state_prefix + short
        if name not in self.states:
            name = self.state_prefix + "FAILED"
        return name


CUSTOM = Kind(
    key="custom",
    collection="customJobs",
    title="CustomJob",
    message=custom_job.CustomJob.pb(),
    state_prefix="JOB_STATE_",
    states=frozenset(job_state.JobState.__members__),
)
PIPELINE = Kind(
    key="pipeline",
    collection="pipelineJobs",
    title="PipelineJob",
    message=pipeline_job.PipelineJob.pb(),
    state_prefix="PIPELINE_STATE_",
    states=frozenset(pipeline_state.PipelineState.__members__),
)
KINDS: dict[str, Kind] = {CUSTOM.key: CUSTOM, PIPELINE.key: PIPELINE}
BY_COLLECTION: dict[str, Kind] = {CUSTOM.collection: CUSTOM, PIPELINE.collection: PIPELINE}

PARENT_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
NAME_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/(customJobs|pipelineJobs)/([^/]+)$")


def split_parent(parent: str) -> tuple[str, str] | None:
    """(project, location) of ``projects/P/locations/L``, else None."""
    match = PARENT_RE.match(parent)
    return (match.group(1), match.group(2)) if match else None


def split_name(name: str) -> tuple[str, str, str, str] | None:
    """(project, location, collection, id) of a job resource name, else None."""
    match = NAME_RE.match(name)
    return (match.group(1), match.group(2), match.group(3), match.group(4)) if match else None
