"""Outcomes, exit codes and the canonical result record: the one table users and manifests rely on.

``watch`` produces a ``RunResult``; ``__main__`` logs it as the last record, writes the termination message
and exits with ``result.exit_code``. The podFailurePolicy in ``k8s/base`` is checked against
``POD_FAILURE_ACTIONS`` by the tests.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ExitCode(enum.IntEnum):
    """Process exit codes (DESIGN.md contract)."""

    OK = 0
    JOB_FAILED = 1
    CONFIG = 2
    AUTH = 3
    TIMEOUT = 4
    TRANSIENT = 5
    TERMINATED = 143


#: What the Job's podFailurePolicy does with each non-zero exit code (143 is matched by DisruptionTarget).
POD_FAILURE_ACTIONS: dict[ExitCode, str] = {
    ExitCode.JOB_FAILED: "FailJob",
    ExitCode.CONFIG: "FailJob",
    ExitCode.AUTH: "FailJob",
    ExitCode.TIMEOUT: "FailJob",
    ExitCode.TRANSIENT: "Count",
}


class Outcome(enum.StrEnum):
    """The ``outcome`` field of the canonical result record."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    SUBMITTED = "submitted"
    DETACHED = "detached"
    ERROR = "error"


#: Exit code of each outcome. Two rows depend on why the run stopped, so the table is keyed by
#: (outcome, stopped_by_signal): a job cancelled by someone else is a failure (1), one we cancelled
#: because the pod was told to stop is 143. ERROR takes the error's own code instead.
_EXIT_CODES: dict[tuple[Outcome, bool], ExitCode] = {
    (Outcome.SUCCEEDED, False): ExitCode.OK,
    (Outcome.SUBMITTED, False): ExitCode.OK,
    (Outcome.SKIPPED, False): ExitCode.OK,
    (Outcome.FAILED, False): ExitCode.JOB_FAILED,
    (Outcome.CANCELLED, False): ExitCode.JOB_FAILED,
    (Outcome.TIMEOUT, False): ExitCode.TIMEOUT,
    (Outcome.CANCELLED, True): ExitCode.TERMINATED,
    (Outcome.DETACHED, True): ExitCode.TERMINATED,
}


def exit_code_for(outcome: Outcome, *, by_signal: bool = False) -> ExitCode:
    """The contract's exit code for an outcome (not for ERROR, whose code comes from the error)."""
    return _EXIT_CODES[(outcome, by_signal)]


#: States after which a job never changes again, and the outcome each one means.
TERMINAL_STATES: dict[str, Outcome] = {
    "JOB_STATE_SUCCEEDED": Outcome.SUCCEEDED,
    "JOB_STATE_FAILED": Outcome.FAILED,
    "JOB_STATE_CANCELLED": Outcome.CANCELLED,
    "JOB_STATE_EXPIRED": Outcome.FAILED,
    "JOB_STATE_PARTIALLY_SUCCEEDED": Outcome.FAILED,
    "PIPELINE_STATE_SUCCEEDED": Outcome.SUCCEEDED,
    "PIPELINE_STATE_FAILED": Outcome.FAILED,
    "PIPELINE_STATE_CANCELLED": Outcome.CANCELLED,
}

#: Non-terminal states in which a job holds (or waits for) resources: what a concurrency check counts.
ACTIVE_STATES: tuple[str, ...] = (
    "QUEUED",
    "PENDING",
    "RUNNING",
    "CANCELLING",
    "PAUSED",
    "UPDATING",
)


def is_terminal(state: str | None) -> bool:
    """True for a state that never changes again."""
    return state in TERMINAL_STATES


@dataclass(frozen=True)
class RunResult:
    """What one run did. ``record()`` is the canonical last log record."""

    outcome: Outcome
    exit_code: ExitCode
    job: str | None = None
    state: str | None = None
    console_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def record(self, *, duration_seconds: float) -> dict[str, Any]:
        """The canonical result fields (DESIGN.md), then the details."""
        return {
            "outcome": self.outcome.value,
            "job": self.job,
            "state": self.state,
            "exit_code": int(self.exit_code),
            "duration_seconds": round(duration_seconds, 3),
            "console_url": self.console_url,
            **self.details,
        }


#: Kubernetes keeps at most 4096 bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096

_ESSENTIAL = ("message", "outcome", "job", "state", "exit_code", "duration_seconds", "console_url")


def termination_message(record: dict[str, Any]) -> str:
    """The result as compact JSON within Kubernetes' 4 KiB; optional fields are dropped first."""
    text = json.dumps(record, separators=(",", ":"), default=str)
    if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
        return text
    kept = {k: record[k] for k in _ESSENTIAL if k in record}
    for key, value in record.items():
        if key in kept:
            continue
        trial = json.dumps({**kept, key: value}, separators=(",", ":"), default=str)
        if len(trial.encode()) <= TERMINATION_MESSAGE_LIMIT - 32:
            kept[key] = value
    kept["truncated"] = True
    return json.dumps(kept, separators=(",", ":"), default=str)[:TERMINATION_MESSAGE_LIMIT]


def write_termination_message(path: Path | None, record: dict[str, Any]) -> None:
    """Write the result where Kubernetes reads it; a missing default path is not an error."""
    target = path or Path("/dev/termination-log")
    if path is None and not os.access(target.parent, os.W_OK) and not os.access(target, os.W_OK):
        return
    try:
        target.write_text(termination_message(record), encoding="utf-8")
    except OSError:
        if path is not None:
            raise
