"""Bounded wall time, whatever the server does: the real launcher process against slow, silent and stalled peers.

A pod gets ``terminationGracePeriodSeconds`` after SIGTERM and then SIGKILL (Spot nodes: 15-30 s), and a hung
API must not keep a run past TIMEOUT_SECONDS or TRANSIENT_RETRY_SECONDS: in each case below the run still ends
in time with its result record last.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_gcs import FakeGcs
from tests.launcher import Finished, finish, launcher_env, run, signal_when, start, wait_until
from tests.pipelines import compile_pipeline
from vertex_launcher.shutdown import EXIT_MARGIN_SECONDS
from vertex_launcher.watch import CALL_SLACK_SECONDS

#: Scheduling noise on a loaded 2-core machine, on top of every bound below.
NOISE_SECONDS = 3.0


@pytest.fixture(name="silent_server")
def _silent_server() -> Iterator[str]:
    """``host:port`` of a server that accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join()
        for connection in [*held, listener]:
            connection.close()


def _seconds_between(done: Finished, first: str, last: str = "run finished") -> float:
    times = {record["message"]: datetime.fromisoformat(record["time"]) for record in done.records}
    return (times[last] - times[first]).total_seconds()


def _silent_env(endpoint: str, tmp_path: Path, **settings: Any) -> dict[str, str]:
    env = launcher_env(None, tmp_path, **settings)
    return env | {"VERTEX_LAUNCHER_API_ENDPOINT": endpoint, "VERTEX_LAUNCHER_API_INSECURE": "true"}


def test_a_server_that_never_answers_cannot_hold_the_run_past_its_timeout(silent_server: str, tmp_path: Path) -> None:
    """TIMEOUT_SECONDS=5 against an API that accepts and never answers: exit 4 on time, result written."""
    done = run(_silent_env(silent_server, tmp_path, timeout_seconds="5"), timeout=60)
    assert (done.exit_code, done.result["outcome"], done.result["job"]) == (4, "timeout", None)
    assert _seconds_between(done, "credentials ready") <= 5 + CALL_SLACK_SECONDS + NOISE_SECONDS


def test_a_server_that_never_answers_cannot_outlast_the_retry_budget(silent_server: str, tmp_path: Path) -> None:
    """No TIMEOUT_SECONDS, TRANSIENT_RETRY_SECONDS=6: the hanging calls end in exit 5 within the budget."""
    done = run(_silent_env(silent_server, tmp_path, transient_retry_seconds="6"), timeout=60)
    assert (done.exit_code, done.result["outcome"]) == (5, "error")
    assert _seconds_between(done, "credentials ready") <= 6 + CALL_SLACK_SECONDS + NOISE_SECONDS


def test_a_slow_api_during_shutdown_still_ends_within_the_grace_budget(emulator_factory: Any, tmp_path: Path) -> None:
    """SIGTERM, then every cancel and get takes 30 s: the run ends CANCEL_GRACE_SECONDS after the signal, exit 143,
    its result saying the cancel was not confirmed — not minutes later, after the kubelet's SIGKILL."""
    emulator = emulator_factory("--time-scale", "10", "--queued-seconds", "0", "--pending-seconds", "0")
    env = launcher_env(emulator, tmp_path, labels={"emulator-run-seconds": "6000"}, cancel_grace_seconds="6")
    process = start(env)
    wait_until(process, lambda: any(job["state"] == "JOB_STATE_RUNNING" for job in emulator.jobs()))
    time.sleep(0.5)  # the watch loop is polling now
    emulator.add_faults(
        [
            {"method": "CancelCustomJob", "nth": 1, "count": 0, "code": None, "delay_seconds": 30},
            {"method": "GetCustomJob", "nth": 1, "count": 0, "code": None, "delay_seconds": 30},
        ]
    )
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    done = finish(process, timeout=60)
    elapsed = time.monotonic() - signalled
    assert (done.exit_code, done.result["outcome"], done.result["cancel_confirmed"]) == (143, "cancelled", False)
    assert done.result["job"]
    assert elapsed <= 6 + CALL_SLACK_SECONDS + NOISE_SECONDS


def test_the_exit_watchdog_writes_the_result_when_the_run_is_stuck_elsewhere(
    emulator: Emulator, tmp_path: Path, fake_gcs: FakeGcs
) -> None:
    """SIGTERM while the launcher is stuck reading a gs:// template from a stalled storage backend: the last-resort
    deadline (CANCEL_GRACE_SECONDS + the exit margin) writes the result and exits 143 before any SIGKILL."""
    fake_gcs.objects["templates/nightly.yaml"] = compile_pipeline(tmp_path / "p.yaml").read_bytes()
    fake_gcs.stall_seconds = 120
    env = launcher_env(
        emulator,
        tmp_path,
        job_type="pipeline",
        image_uri=None,
        pipeline_template="gs://templates/nightly.yaml",
        pipeline_parameters={"day": "2026-01-31"},
        pipeline_root="gs://bucket/root",
        cancel_grace_seconds="3",
        STORAGE_EMULATOR_HOST=fake_gcs.url,
    )
    process = start(env)
    signal_when(process, lambda: bool(fake_gcs.paths))
    signalled = time.monotonic()
    done = finish(process, timeout=60)
    elapsed = time.monotonic() - signalled
    assert (done.exit_code, done.result["outcome"], done.result["job"]) == (143, "cancelled", None)
    assert "forced_exit" in done.result
    assert done.result["message"] == "run finished"
    assert 3 + EXIT_MARGIN_SECONDS - 0.5 <= elapsed <= 3 + EXIT_MARGIN_SECONDS + NOISE_SECONDS
    assert emulator.jobs() == []


def test_an_api_that_hangs_after_the_create_cannot_hold_the_run_past_timeout_and_grace(
    emulator_factory: Any, tmp_path: Path
) -> None:
    """The job runs, then every get and cancel hangs for 30 s: TIMEOUT_SECONDS=4 still ends the run about 4 s after
    the submit plus CANCEL_GRACE_SECONDS for the (unconfirmed) cancel, exit 4."""
    emulator = emulator_factory("--time-scale", "10", "--queued-seconds", "0", "--pending-seconds", "0")
    emulator.add_faults(
        [
            {"method": "GetCustomJob", "nth": 1, "count": 0, "code": None, "delay_seconds": 30},
            {"method": "CancelCustomJob", "nth": 1, "count": 0, "code": None, "delay_seconds": 30},
        ]
    )
    env = launcher_env(
        emulator,
        tmp_path,
        labels={"emulator-run-seconds": "6000"},
        timeout_seconds="4",
        cancel_grace_seconds="5",
    )
    done = run(env, timeout=90)
    assert (done.exit_code, done.result["outcome"], done.result["cancel_confirmed"]) == (4, "timeout", False)
    assert _seconds_between(done, "job submitted") <= 4 + 5 + CALL_SLACK_SECONDS + NOISE_SECONDS
