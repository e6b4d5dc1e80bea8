"""Measuring processes: start one, note when, sample its memory, reap it with its own rusage, read the request log.

``Proc`` wraps one child (the launcher or the SDK reference script): ``start()`` records the wall time just before
``fork/exec``; a waiter thread reaps it with ``os.wait4`` (exit time, peak RSS and CPU of that child alone) and a
shared ``RssSampler`` reads ``/proc/PID/status`` while it runs. ``RequestLog`` tails the emulator's
``--request-log`` file. Used by ``bench.runner``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid: int) -> int | None:
    """Current resident set size of ``pid`` in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Proc:
    """One measured child process."""

    label: str
    bench_id: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    meta: dict[str, Any] = field(default_factory=dict)
    pid: int = 0
    t_start: float = 0.0
    t_exit: float | None = None
    exit_code: int | None = None
    max_rss_kib: int = 0
    cpu_seconds: float = 0.0
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    _popen: subprocess.Popen[bytes] | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def stdout_path(self) -> Path:
        """Where the child's stdout goes."""
        return self.workdir / f"{self.bench_id}.stdout"

    @property
    def stderr_path(self) -> Path:
        """Where the child's stderr goes."""
        return self.workdir / f"{self.bench_id}.stderr"

    def start(self, sampler: RssSampler | None = None, *, nice: int = 0) -> Proc:
        """Fork/exec the child (at ``nice``, through nice(1), same pid); ``t_start`` is taken just before."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = ["nice", "-n", str(nice), *self.argv] if nice else self.argv
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.t_start = time.time()
            self._popen = subprocess.Popen(argv, stdout=out, stderr=err, env=self.env, cwd=self.workdir)  # noqa: S603
        self.pid = self._popen.pid
        threading.Thread(target=self._reap, name=f"reap-{self.bench_id}", daemon=True).start()
        if sampler is not None:
            sampler.add(self)
        return self

    def _reap(self) -> None:
        _, status, usage = os.wait4(self.pid, 0)
        self.t_exit = time.time()
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.max_rss_kib = int(usage.ru_maxrss)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        if self._popen is not None:
            self._popen.returncode = self.exit_code  # already reaped: keep Popen from waiting again
        self._done.set()

    def renice(self, value: int) -> None:
        """Set the nice value of every thread of the process (Linux nice is per thread)."""
        renice(self.pid, value)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the exit; False on timeout."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        """Started and not yet reaped."""
        return self.pid != 0 and not self._done.is_set()

    def kill(self) -> None:
        """SIGKILL if still running (a benchmark run that hangs)."""
        if self.running and self._popen is not None:
            self._popen.kill()

    def stdout_records(self) -> list[dict[str, Any]]:
        """The stdout lines that are JSON objects (the launcher's log records)."""
        records = []
        for line in self.stdout_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


class RssSampler:
    """One thread sampling VmRSS of every registered live process every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._procs: list[Proc] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.totals: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def add(self, proc: Proc) -> None:
        """Start sampling ``proc``."""
        with self._lock:
            self._procs.append(proc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                live = [proc for proc in self._procs if proc.running]
            now, total = time.time(), 0
            for proc in live:
                rss = proc_rss_kib(proc.pid)
                if rss is not None:
                    proc.rss_samples.append((now, rss))
                    total += rss
            if live:
                self.totals.append((now, total))

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def renice(pid: int, value: int) -> None:
    """Set the nice value of every thread of ``pid`` (gone threads are skipped)."""
    try:
        tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, value)
        except OSError:
            continue


def parse_time(text: str) -> float:
    """An RFC 3339 timestamp of the request log as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class RequestLog:
    """The emulator's ``--request-log`` JSON-lines file, read incrementally; entries gain ``t`` (epoch seconds)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        """The entries appended since the last call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new = []
        for line in lines:
            if line.strip():
                entry: dict[str, Any] = json.loads(line)
                entry["t"] = parse_time(entry["time"])
                new.append(entry)
        self.entries.extend(new)
        return new

    def wait_for_create(self, proc: Proc, timeout: float = 180.0) -> dict[str, Any] | None:
        """Poll until the next CreateCustomJob arrives (or ``proc`` exits); note ``proc``'s CPU seconds then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.poll():
                if entry["method"] == "CreateCustomJob" and entry["code"] == "OK":
                    proc.meta["cpu_at_create"] = proc_cpu_seconds(proc.pid)
                    proc.meta["t_create"] = entry["t"]
                    return entry
            if not proc.running:
                return None
            time.sleep(0.004)
        return None

    def for_resource(self, name: str, method: str | None = None) -> list[dict[str, Any]]:
        """Entries about one job (optionally of one method), oldest first."""
        self.poll()
        return [e for e in self.entries if e["resource"] == name and (method is None or e["method"] == method)]
