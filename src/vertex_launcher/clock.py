"""Time and stopping: monotonic time, wall time, the one interruptible sleep, and bounded waits on blocking calls.

``__main__`` installs signal handlers that only call ``request_stop``; ``watch``/``auth`` wait with ``sleep`` and see
the stop at once (``Event.wait`` is woken by the handler). ``call`` runs a blocking API call on a worker thread and
waits for it no longer than a deadline (and, once a stop is requested, no longer than ``after_stop`` more), so
neither a hung server nor a slow call can hold the main thread past what the run's budgets allow.
Tests use ``FakeClock`` (virtual time, no real sleeping, calls run inline).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

#: How often a waiting ``SystemClock.call`` looks for a stop request.
_CALL_POLL_SECONDS = 0.05


class Abandoned(Exception):  # noqa: N818 - an event, not an error of the call itself
    """``Clock.call`` stopped waiting: the deadline passed (``stopped`` False) or a stop came (``stopped`` True).

    The call itself may still be running on its worker thread; ``pending`` tells whether it has finished since.
    """

    def __init__(self, *, stopped: bool, pending: PendingCall[object]) -> None:
        super().__init__("stop requested" if stopped else "no answer before the deadline")
        self.stopped = stopped
        self.pending = pending


class PendingCall(Generic[T]):
    """One blocking call on a daemon worker thread (or already done, for ``FakeClock``)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def run(self, fn: Callable[[], T]) -> None:
        """Run ``fn`` here and keep its result or exception."""
        try:
            self._value = fn()
        except BaseException as exc:  # handed to the waiting thread as is
            self._error = exc
        finally:
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the call; True once it has finished."""
        return self._done.wait(max(0.0, seconds))

    def done(self) -> bool:
        """Whether the call has finished."""
        return self._done.is_set()

    def result(self) -> T:
        """The call's value, or its exception raised here."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


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

    def call(self, fn: Callable[[], T], *, until: float, after_stop: float = 0.0) -> T:
        """``fn()``, waited for no longer than monotonic time ``until``.

        Once a stop has been requested, also no longer than ``stop time + after_stop`` (``math.inf``: a stop does
        not shorten the wait). Raises ``Abandoned`` when it gives up; exceptions of ``fn`` propagate.
        """
        ...

    @property
    def stop_reason(self) -> str | None:
        """Why a stop was requested (e.g. ``SIGTERM``), or None."""
        ...

    @property
    def stopped_at(self) -> float | None:
        """Monotonic time of the first stop request, or None."""
        ...


class SystemClock:
    """The real clock; ``request_stop`` is safe to call from a signal handler."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._reason: str | None = None
        self._stopped_at: float | None = None

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

    def call(self, fn: Callable[[], T], *, until: float, after_stop: float = 0.0) -> T:
        """See ``Clock``: ``fn`` runs on a daemon thread; this thread looks for a stop every 50 ms."""
        pending: PendingCall[T] = PendingCall()
        threading.Thread(target=pending.run, args=(fn,), name="vertex-launcher-call", daemon=True).start()
        while True:
            limit = until
            if self._stopped_at is not None:
                limit = min(limit, self._stopped_at + after_stop)
            left = limit - time.monotonic()
            if pending.wait(min(left, _CALL_POLL_SECONDS)):
                return pending.result()
            if left <= 0:
                raise Abandoned(stopped=self._stopped_at is not None and limit < until, pending=pending)  # type: ignore[arg-type]

    @property
    def stop_reason(self) -> str | None:
        """See ``Clock``."""
        return self._reason

    @property
    def stopped_at(self) -> float | None:
        """See ``Clock``."""
        return self._stopped_at

    @property
    def stop_event(self) -> threading.Event:
        """Set once a stop has been requested (for the composition root's exit watchdog)."""
        return self._stop

    def request_stop(self, reason: str) -> None:
        """Only sets a flag; the first reason wins."""
        if self._reason is None:
            self._reason = reason
            self._stopped_at = time.monotonic()
        self._stop.set()


class FakeClock:
    """Virtual time for tests: sleeping advances time instantly; a stop can be scheduled at a virtual moment."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        #: The longest wait each ``call`` was allowed (seconds from its start): what tests check bounds against.
        self.calls: list[float] = []
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

    def call(self, fn: Callable[[], T], *, until: float, after_stop: float = 0.0) -> T:
        """See ``Clock``: ``fn`` runs inline; a fake backend may advance virtual time to play a slow call.

        If it ended past the moment a real waiter would have given up, time is set back to that moment and
        ``Abandoned`` raised — the call's side effects remain, as with a call left running on a real server.
        """
        self.calls.append(until - self.elapsed)
        started = self.elapsed
        pending: PendingCall[T] = PendingCall()
        pending.run(fn)
        limit = until
        stop = self._stop_at
        if stop is not None and stop <= self.elapsed:
            limit = min(limit, max(stop, started) + after_stop)
        if self.elapsed > limit:
            self.elapsed = max(limit, started)
            stopped = stop is not None and limit < until
            if stopped:
                self._reason = self._reason or self._pending
            raise Abandoned(stopped=stopped, pending=pending)  # type: ignore[arg-type]
        return pending.result()

    @property
    def stop_reason(self) -> str | None:
        """See ``Clock``."""
        if self._stop_at is not None and self.elapsed >= self._stop_at:
            self._reason = self._reason or self._pending
        return self._reason

    @property
    def stopped_at(self) -> float | None:
        """See ``Clock``."""
        return self._stop_at if self.stop_reason is not None else None

    def stop_at(self, elapsed: float, reason: str = "SIGTERM") -> None:
        """Schedule a stop request at a virtual moment."""
        self._stop_at = elapsed
        self._pending = reason
