"""Time and stopping: monotonic time, wall time, and the one interruptible sleep every wait goes through.

``__main__`` installs signal handlers that only call ``request_stop``; ``watch``/``auth`` wait with ``sleep`` and see
the stop at once (``Event.wait`` is woken by the handler). Tests use ``FakeClock`` (virtual time, no real sleeping).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The seam for time: everything that waits or measures takes one of these."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def now(self) -> datetime:
        """Wall-clock time, UTC."""
        ...

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds``; return True at once (or early) when a stop has been requested."""
        ...

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` regardless of a stop (the bounded grace phase after a stop)."""
        ...

    @property
    def stop_reason(self) -> str | None:
        """Why a stop was requested (e.g. ``SIGTERM``), or None."""
        ...


class SystemClock:
    """The real clock; ``request_stop`` is safe to call from a signal handler."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._reason: str | None = None

    def monotonic(self) -> float:
        """See ``Clock``."""
        return time.monotonic()

    def now(self) -> datetime:
        """See ``Clock``."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> bool:
        """See ``Clock``."""
        return self._stop.wait(max(0.0, seconds))

    def pause(self, seconds: float) -> None:
        """See ``Clock``."""
        time.sleep(max(0.0, seconds))

    @property
    def stop_reason(self) -> str | None:
        """See ``Clock``."""
        return self._reason

    def request_stop(self, reason: str) -> None:
        """Only sets a flag; the first reason wins."""
        if self._reason is None:
            self._reason = reason
        self._stop.set()


class FakeClock:
    """Virtual time for tests: sleeping advances time instantly; a stop can be scheduled at a virtual moment."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self._stop_at: float | None = None
        self._pending = "SIGTERM"
        self._reason: str | None = None

    def monotonic(self) -> float:
        """See ``Clock``."""
        return self.elapsed

    def now(self) -> datetime:
        """See ``Clock``."""
        return datetime.fromtimestamp(self.start.timestamp() + self.elapsed, UTC)

    def sleep(self, seconds: float) -> bool:
        """See ``Clock``; wakes at the scheduled stop if one falls inside the sleep."""
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        if self._stop_at is not None and self.elapsed + seconds >= self._stop_at:
            self.elapsed = max(self.elapsed, self._stop_at)
            self._reason = self._reason or self._pending
            return True
        self.elapsed += seconds
        return self._reason is not None

    def pause(self, seconds: float) -> None:
        """See ``Clock``."""
        self.elapsed += max(0.0, seconds)

    @property
    def stop_reason(self) -> str | None:
        """See ``Clock``."""
        if self._stop_at is not None and self.elapsed >= self._stop_at:
            self._reason = self._reason or self._pending
        return self._reason

    def stop_at(self, elapsed: float, reason: str = "SIGTERM") -> None:
        """Schedule a stop request at a virtual moment."""
        self._stop_at = elapsed
        self._pending = reason
