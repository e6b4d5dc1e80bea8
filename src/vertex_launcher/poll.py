"""When to look again: the poll schedule of the watch loop and the backoff after transient errors. Pure.

The pause between GETs grows with the job's elapsed time — ``fraction`` of it, clamped to
[``initial``, ``maximum``] — so a job that has run for an hour is asked about rarely, while a short one is seen
finishing quickly: detection lag stays within ``max(initial, fraction × runtime)`` and a job of T seconds costs
about ``T/initial`` GETs for its first ``initial/fraction`` seconds and ``ln(T·fraction/initial)/ln(1+fraction)``
after that (capped at ``maximum`` per pause). Jitter only shortens a pause, so the bounds hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    """Pause before the next GET, from the time watched so far."""

    initial: float = 10.0
    maximum: float = 300.0
    fraction: float = 0.1
    jitter: float = 0.2

    def base_delay(self, elapsed: float) -> float:
        """The pause without jitter after ``elapsed`` seconds of watching."""
        return min(self.maximum, max(self.initial, self.fraction * elapsed))

    def next_delay(self, elapsed: float, rng: random.Random) -> float:
        """Seconds to wait after ``elapsed`` seconds of watching (jitter only shortens it)."""
        return self.base_delay(elapsed) * (1.0 - self.jitter * rng.random())

    def retry_delay(self, attempt: int, rng: random.Random, server_hint: float | None = None) -> float:
        """Pause before retrying a failed call: jittered exponential backoff, never below the server's RetryInfo."""
        ceiling = min(self.maximum, self.initial * 2.0 ** min(attempt, 16))
        delay = ceiling * (0.5 + 0.5 * rng.random())
        if server_hint is not None:
            delay = max(delay, server_hint * (1.0 + 0.2 * rng.random()))
        return delay

    def get_calls(self, runtime: float) -> int:
        """How many GETs watching a job of ``runtime`` seconds costs, without jitter (docs and benchmark)."""
        elapsed, calls = 0.0, 0
        while elapsed < runtime:
            elapsed += self.base_delay(elapsed)
            calls += 1
        return calls
