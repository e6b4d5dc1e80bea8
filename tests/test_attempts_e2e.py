"""Runs that survive, end to end: the real launcher process and GAPIC client against the emulator — a node drain
resumed by the replacement pod, a stockout resubmitted in another region, a Spot preemption moved to standard VMs,
an allocation-quota refusal moved to another GPU."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulator import Emulator
from tests.launcher import finish, launcher_env, run, signal_when, start

GPU = {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": "1"}


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle: ~0.5 s queued+pending, ~1 s running."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


def moment(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339)


def own(emulator: Emulator, run_key: str) -> list[dict[str, Any]]:
    """The run's jobs, oldest first."""
    jobs = [job for job in emulator.jobs() if job["labels"].get("vertex-launcher-run") == run_key]
    return sorted(jobs, key=lambda job: int(job["labels"]["vertex-launcher-attempt"]))


def test_a_drained_pod_is_resumed_by_its_replacement_with_the_next_attempt(fast: Emulator, tmp_path: Path) -> None:
    """SIGTERM while watching cancels attempt 1 (exit 143); the replacement pod, same RUN_KEY, submits attempt 2."""
    env = launcher_env(fast, tmp_path, run_key="drained", labels={"emulator-run-seconds": "20"})
    process = start(env)
    signal_when(process, lambda: any(job["state"] == "JOB_STATE_RUNNING" for job in own(fast, "drained")))
    stopped = finish(process)
    assert stopped.exit_code == 143, stopped.stderr
    replacement = run(env)
    assert replacement.exit_code == 0, replacement.stderr
    first, second = own(fast, "drained")
    assert (first["state"], second["state"]) == ("JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED")
    assert second["labels"]["vertex-launcher-attempt"] == "2"
    assert moment(first["end_time"]) <= moment(second["create_time"])  # never two active jobs of the run
    result = replacement.result
    assert (result["job"], result["attempt"]) == (second["name"], 2)
    assert [a["reason"] for a in result["attempts"]] == ["stopped", "succeeded"]
    messages = [record["message"] for record in replacement.records]
    assert any(message.startswith("the run's latest job was cancelled before this pod saw it") for message in messages)


def test_a_stockout_in_one_region_is_resubmitted_in_the_fallback_region(fast: Emulator, tmp_path: Path) -> None:
    """us-central1 has no T4s: attempt 2 runs in europe-west4, the exit code is its 0, usage counts both attempts."""
    fast.configure(capacity=[{"kind": "stockout", "region": "us-central1", "accelerator_type": "NVIDIA_TESLA_T4"}])
    settings = {
        "resubmit_on": "capacity",
        "resubmit_delay_seconds": "0",
        "resubmit_fallbacks": [{"region": "europe-west4"}],
    }
    done = run(launcher_env(fast, tmp_path, run_key="stockout", **GPU, **settings))
    assert done.exit_code == 0, done.stderr
    first, second = own(fast, "stockout")
    assert first["name"].split("/")[3] == "us-central1"
    assert second["name"].split("/")[3] == "europe-west4"
    assert second["labels"]["vertex-launcher-fallback"] == "1"
    result = done.result
    assert [(a["reason"], a["region"]) for a in result["attempts"]] == [
        ("capacity", "us-central1"),
        ("succeeded", "europe-west4"),
    ]
    assert result["usage"]["counted_attempts"] == [1, 2]
    assert result["usage"]["accelerator_seconds"]["NVIDIA_TESLA_T4"] == pytest.approx(10.0, abs=0.5)
    termination = json.loads((tmp_path / "termination-log").read_text())
    assert (termination["job"], termination["attempt"]) == (second["name"], 2)


def test_a_stockout_without_resubmit_on_fails_with_one_job(fast: Emulator, tmp_path: Path) -> None:
    """The default: a capacity failure is exit 1 and the log says which setting would resubmit it."""
    done = run(launcher_env(fast, tmp_path, run_key="plain", labels={"emulator-capacity": "stockout"}))
    assert done.exit_code == 1
    assert len(own(fast, "plain")) == 1
    assert any("RESUBMIT_ON does not name it" in record["message"] for record in done.records)


def test_a_preempted_spot_job_is_resubmitted_on_standard_vms(fast: Emulator, tmp_path: Path) -> None:
    """A SPOT job preempted (emulator rule by strategy); the fallback switches scheduling.strategy to STANDARD."""
    fast.configure(capacity=[{"kind": "preempted", "strategy": "SPOT"}])
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "workerPoolSpecs:\n  machineSpec: {machineType: n1-standard-8, acceleratorType: NVIDIA_TESLA_T4, "
        "acceleratorCount: 1}\n  replicaCount: 1\n  containerSpec: {imageUri: busybox}\nscheduling: {strategy: SPOT}\n"
    )
    settings = {
        "image_uri": None,
        "spec_file": str(spec),
        "resubmit_on": "preempted",
        "resubmit_delay_seconds": "0",
        "resubmit_fallbacks": [{"schedulingStrategy": "STANDARD"}],
    }
    done = run(launcher_env(fast, tmp_path, run_key="spot", **settings))
    assert done.exit_code == 0, done.stderr
    assert [(a["reason"], a["strategy"]) for a in done.result["attempts"]] == [
        ("preempted", "SPOT"),
        ("succeeded", "STANDARD"),
    ]


def test_an_allocation_quota_refusal_is_resubmitted_on_another_gpu(fast: Emulator, tmp_path: Path) -> None:
    """No T4 quota: the create is refused (no job); the L4 fallback is created and succeeds."""
    fast.configure(capacity=[{"kind": "quota", "accelerator_type": "NVIDIA_TESLA_T4"}])
    fallback = [{"machineType": "g2-standard-8", "acceleratorType": "NVIDIA_L4"}]
    settings = {"resubmit_on": "allocation-quota", "resubmit_delay_seconds": "0", "resubmit_fallbacks": fallback}
    done = run(launcher_env(fast, tmp_path, run_key="quota", **GPU, **settings))
    assert done.exit_code == 0, done.stderr
    [job] = own(fast, "quota")
    assert job["labels"]["vertex-launcher-attempt"] == "2"
    refused, made = done.result["attempts"]
    assert (refused["job"], refused["reason"], made["accelerator_type"]) == (None, "allocation-quota", "NVIDIA_L4")


def test_max_attempts_1_restores_reporting_the_cancelled_job(fast: Emulator, tmp_path: Path) -> None:
    """MAX_ATTEMPTS=1: the replacement pod reports the CANCELLED job (exit 1), as before attempts existed."""
    env = launcher_env(fast, tmp_path, run_key="once", max_attempts="1", labels={"emulator-run-seconds": "20"})
    process = start(env)
    signal_when(process, lambda: any(job["state"] == "JOB_STATE_RUNNING" for job in own(fast, "once")), signal.SIGINT)
    assert finish(process).exit_code == 143
    replacement = run(env)
    assert replacement.exit_code == 1
    assert len(own(fast, "once")) == 1
