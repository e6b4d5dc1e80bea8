"""The end of the process: the one result record, written exactly once, and the last-resort exit deadline.

``__main__`` builds a ``Finisher`` first thing and hands every result to it; ``ExitWatchdog`` guarantees that a
stopped run ends before the pod's grace period does, whatever the main thread is stuck in (a slow template
download, a credential fetch, a bug): CANCEL_GRACE_SECONDS after the stop request plus ``EXIT_MARGIN_SECONDS``, it
writes the result with what is known (the job, if one was made) and exits 143 — as kopf bounds its own shutdown.
The watch loop's calls are bounded by the same grace budget, so the watchdog only fires when something else hangs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vertex_launcher.clock import SystemClock
from vertex_launcher.jobs import JobKind, console_url
from vertex_launcher.logs import LogPipeline, log_run_finished
from vertex_launcher.outputs import write_outputs
from vertex_launcher.result import ExitCode, Outcome, RunResult, write_termination_message
from vertex_launcher.settings import PREFIX, Settings

#: After the cancel grace, how long the run may still take to write its result before the watchdog does it.
EXIT_MARGIN_SECONDS = 5.0
#: The grace budget when the settings never loaded (the default of CANCEL_GRACE_SECONDS).
DEFAULT_CANCEL_GRACE_SECONDS = 20.0


@dataclass
class Finisher:
    """Writes the canonical result record (stdout, sink, termination message) once, from whichever thread is first.

    ``settings``, ``logs`` and ``job`` are filled in as the run learns them.
    """

    started: float
    clock: SystemClock
    logs: LogPipeline
    version: str
    settings: Settings | None = None
    job: str | None = None
    project: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)

    def track(self, job: str) -> None:
        """The run's Vertex job is known (called by the watch loop through ``on_job``)."""
        self.job = job

    def finish(self, result: RunResult) -> bool:
        """Log ``result`` as the last record, write the termination message and OUTPUTS_DIR, close the sink.

        False if a result was already written.
        """
        with self._lock:
            if self.done.is_set():
                return False
            try:
                duration = self.clock.monotonic() - self.started
                fields = {**result.record(duration_seconds=duration), "launcher_version": self.version}
                record = log_run_finished(fields)
                path = self.settings.termination_message_path if self.settings else None
                try:
                    write_termination_message(path, record)
                except OSError as exc:
                    print(f"vertex-launcher: cannot write the termination message: {exc}", file=sys.stderr)
                # Also after a configuration error, before Settings existed: read raw, as LOG_FORMAT is.
                raw = os.environ.get(f"{PREFIX}OUTPUTS_DIR", "").strip()
                outputs = self.settings.outputs_dir if self.settings else (raw or None)
                if outputs:
                    write_outputs(outputs, record)
            finally:
                self.done.set()
                self.logs.close()
            return True

    def forced_result(self, waited: float) -> RunResult:
        """What a run stopped by a signal can still say when it did not finish in time."""
        settings = self.settings
        detach = settings is not None and settings.on_terminate == "detach"
        kind: JobKind = settings.job_type if settings is not None else "custom"
        details: dict[str, Any] = {
            "stopped_by": self.clock.stop_reason,
            "on_terminate": settings.on_terminate if settings else "cancel",
            "forced_exit": f"the run had not finished {waited:g} s after {self.clock.stop_reason}",
        }
        if self.job and not detach:
            details["cancel_confirmed"] = False
        return RunResult(
            outcome=Outcome.DETACHED if detach and self.job else Outcome.CANCELLED,
            exit_code=ExitCode.TERMINATED,
            job=self.job,
            console_url=console_url(kind, self.job, self.project) if self.job else None,
            details=details,
        )


class ExitWatchdog:
    """A daemon thread: once a stop is requested, waits the grace budget plus the margin, then ends the process."""

    def __init__(self, finisher: Finisher, *, exit: Callable[[int], None] = os._exit) -> None:
        self._finisher = finisher
        self._exit = exit
        self.thread = threading.Thread(target=self._run, name="vertex-launcher-exit-watchdog", daemon=True)

    def start(self) -> ExitWatchdog:
        """Start watching."""
        self.thread.start()
        return self

    def _run(self) -> None:
        finisher = self._finisher
        finisher.clock.stop_event.wait()
        stopped_at = finisher.clock.stopped_at or finisher.clock.monotonic()
        settings = finisher.settings
        grace = settings.cancel_grace_seconds if settings else DEFAULT_CANCEL_GRACE_SECONDS
        budget = grace + EXIT_MARGIN_SECONDS
        if finisher.done.wait(max(0.0, stopped_at + budget - finisher.clock.monotonic())):
            return
        if finisher.finish(finisher.forced_result(budget)):
            sys.stdout.flush()
            self._exit(int(ExitCode.TERMINATED))
