"""Test helper: run the real ``vertex-launcher`` process (``python -m vertex_launcher``) and read what it printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fixtures.emulator import Emulator


@dataclass(frozen=True)
class Finished:
    """What one launcher process did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed as JSON (fails the test if one is not)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def result(self) -> dict[str, Any]:
        """The canonical result: the last record."""
        return self.records[-1]


def launcher_env(emulator: Emulator | None, tmp_path: Path, **settings: Any) -> dict[str, str]:
    """A clean environment for the launcher pointed at ``emulator``; keyword args are VERTEX_LAUNCHER_* settings."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "VERTEX_LAUNCHER_PROJECT": "demo",
        "VERTEX_LAUNCHER_REGION": "us-central1",
        "VERTEX_LAUNCHER_IMAGE_URI": "us-docker.pkg.dev/demo/r/train:1",
        "VERTEX_LAUNCHER_CREDENTIALS": "anonymous",
        "VERTEX_LAUNCHER_POLL_INITIAL_SECONDS": "0.2",
        "VERTEX_LAUNCHER_POLL_MAX_SECONDS": "1",
        "VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
    }
    if emulator is not None:
        env |= {"VERTEX_LAUNCHER_API_ENDPOINT": emulator.grpc, "VERTEX_LAUNCHER_API_INSECURE": "true"}
    for key, value in settings.items():
        name = key if key.isupper() and not key.startswith("_") else f"VERTEX_LAUNCHER_{key.upper()}"
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value if isinstance(value, str) else json.dumps(value)
    return env


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start the launcher without waiting."""
    return subprocess.Popen(
        [sys.executable, "-m", "vertex_launcher", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120.0) -> Finished:
    """Wait for a started launcher."""
    stdout, stderr = process.communicate(timeout=timeout)
    return Finished(process.returncode, stdout, stderr)


def run(env: dict[str, str], *args: str, timeout: float = 120.0) -> Finished:
    """Run the launcher to the end."""
    return finish(start(env, *args), timeout)


def wait_until(process: subprocess.Popen[str], ready: Any, timeout: float = 60.0) -> None:
    """Return once ``ready()`` is true (polled); fail if the launcher exits or the moment never comes."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline or process.poll() is not None:
            msg = "the launcher never reached the awaited moment"
            raise AssertionError(msg)
        time.sleep(0.05)


def signal_when(process: subprocess.Popen[str], ready: Any, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
    """Send ``sig`` once ``ready()`` is true (polled), e.g. once the emulator shows the job RUNNING."""
    wait_until(process, ready, timeout)
    process.send_signal(sig)
