"""Simulated time and the job lifecycle, computed lazily from the clock on every read (no background threads).

``SimClock`` turns monotonic time into simulated seconds (× time scale) and simulated seconds into wall
timestamps. ``Timeline`` holds what was decided for one job at creation (phase durations, outcome) and what
happened since (cancel request, forced state); ``Timeline.at(t)`` says the job's state at simulated time ``t``.
Used by ``store``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: Outcomes a job can be told to end with (label ``emulator-outcome``, defaults, rules).
OUTCOMES: dict[str, str] = {
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "partially_succeeded": "PARTIALLY_SUCCEEDED",
    "expired": "EXPIRED",
    "cancelled": "CANCELLED",
}

#: Short state names (without the JOB_STATE_/PIPELINE_STATE_ prefix) after which nothing changes.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"})

#: Short state names a job may be forced into through the control API.
FORCEABLE = frozenset({"QUEUED", "PENDING", "RUNNING", "PAUSED", "CANCELLING", *TERMINAL})


class SimClock:
    """Simulated seconds: ``start + (monotonic() - mono0) * scale``; sim second 0 is wall time ``wall_origin``."""

    def __init__(
        self,
        *,
        scale: float = 1.0,
        start: float = 0.0,
        wall_origin: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._mono0 = monotonic()
        self._start = start
        self.scale = scale
        self.wall_origin = time.time() - start if wall_origin is None else wall_origin

    def now(self) -> float:
        """The current simulated time in seconds."""
        return self._start + (self._monotonic() - self._mono0) * self.scale

    def set_scale(self, scale: float) -> None:
        """Change the speed from now on without a jump in simulated time."""
        self._start = self.now()
        self._mono0 = self._monotonic()
        self.scale = scale

    def wall(self, sim: float) -> float:
        """The wall-clock (epoch) time shown for simulated second ``sim``."""
        return self.wall_origin + sim


@dataclass(frozen=True)
class Snapshot:
    """A job's state at one moment: short state name and the simulated times of its transitions."""

    state: str
    updated: float
    started: float | None
    ended: float | None


@dataclass
class Timeline:
    """One job's decided lifecycle. All times are simulated seconds."""

    created: float
    queued: float
    pending: float
    run: float
    outcome: str = "SUCCEEDED"
    cancel_delay: float = 2.0
    cancel_requested: float | None = None
    forced_state: str | None = None
    forced_at: float | None = None
    #: Decided at creation: the error a FAILED end carries (a pipeline root it may not write, a stockout, a Spot
    #: preemption) instead of the generic one.
    setup_error: tuple[int, str] | None = None

    def natural(self, t: float) -> Snapshot:
        """The state ignoring cancel/force: QUEUED → PENDING → RUNNING → outcome."""
        t1 = self.created + self.queued
        t2 = t1 + self.pending
        t3 = t2 + self.run
        if t < t1:
            return Snapshot("QUEUED", self.created, None, None)
        if t < t2:
            return Snapshot("PENDING", t1, None, None)
        if t < t3:
            return Snapshot("RUNNING", t2, t2, None)
        return Snapshot(self.outcome, t3, t2 if self.run > 0 else None, t3)

    def at(self, t: float) -> Snapshot:
        """The state at simulated time ``t``, with force and cancel applied."""
        base = self.natural(t)
        if self.forced_state is not None and self.forced_at is not None and t >= self.forced_at:
            before = self.natural(self.forced_at)
            if before.state in TERMINAL:
                before = Snapshot(before.state, before.updated, before.started, None)
            started = before.started
            if started is None and self.forced_state == "RUNNING":
                started = self.forced_at
            ended = self.forced_at if self.forced_state in TERMINAL else None
            base = Snapshot(self.forced_state, self.forced_at, started, ended)
        c = self.cancel_requested
        if c is None or t < c:
            return base
        at_cancel = self.at_without_cancel(c)
        if at_cancel.state in TERMINAL:
            return base
        done = c + self.cancel_delay
        # A cancel that comes late loses the race: a job that would end on its own before the cancel takes effect
        # ends that way (SUCCEEDED, FAILED...), after a spell of CANCELLING — as Vertex's asynchronous cancel does.
        unstopped = self.at_without_cancel(done)
        if unstopped.state in TERMINAL and unstopped.ended is not None and unstopped.ended < done:
            return base if t >= unstopped.ended else Snapshot("CANCELLING", c, at_cancel.started, None)
        if t < done:
            return Snapshot("CANCELLING", c, at_cancel.started, None)
        return Snapshot("CANCELLED", done, at_cancel.started, done)

    def at_without_cancel(self, t: float) -> Snapshot:
        """The state at ``t`` as if no cancel had been requested."""
        saved = self.cancel_requested
        self.cancel_requested = None
        try:
            return self.at(t)
        finally:
            self.cancel_requested = saved

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (for the state file)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timeline:
        """Inverse of ``to_json``."""
        error = data.get("setup_error")
        return cls(**{**data, "setup_error": (int(error[0]), str(error[1])) if error else None})
