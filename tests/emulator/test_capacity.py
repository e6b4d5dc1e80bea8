"""Capacity trouble in the emulator: stockouts, Spot preemptions and allocation-quota refusals, by label or by a
region-scoped rule, in the shapes Vertex documents — seen through the real GAPIC client."""

from __future__ import annotations

import time
from typing import Any

import pytest
from google.api_core import exceptions

from tests.emulator.jobs import PARENT, custom_job
from tests.fixtures.emulator import Emulator, EmulatorError

STOCKOUT = "Resources are insufficient in region: {}. Try a different region or use a different accelerator."


def gpu_job(accelerator: str = "NVIDIA_TESLA_T4", strategy: str | None = None, **labels: str) -> dict[str, Any]:
    job = custom_job(labels=labels)
    job["job_spec"]["worker_pool_specs"][0]["machine_spec"] = {
        "machine_type": "n1-standard-8",
        "accelerator_type": accelerator,
        "accelerator_count": 1,
    }
    if strategy:
        job["job_spec"]["scheduling"] = {"strategy": strategy}
    return job


def ended(emulator: Emulator, client: Any, name: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get_custom_job(name=name)
        if job.state.name in ("JOB_STATE_FAILED", "JOB_STATE_SUCCEEDED"):
            return job
        time.sleep(0.05)
    pytest.fail(f"{name} did not end")


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    emulator.configure(time_scale=100, queued_seconds=1, pending_seconds=1, run_seconds=5)
    return emulator


def test_a_stockout_label_fails_the_job_after_pending_without_it_ever_running(fast: Emulator, transport: str) -> None:
    """``emulator-capacity=stockout``: FAILED with Vertex's documented message, no start_time."""
    client = fast.job_client(transport)
    made = client.create_custom_job(parent=PARENT, custom_job=gpu_job(**{"emulator-capacity": "stockout"}))
    job = ended(fast, client, made.name)
    assert job.state.name == "JOB_STATE_FAILED"
    assert job.error.message == STOCKOUT.format("us-central1")
    assert job.error.code == 8
    assert not job.start_time


def test_a_preempted_job_runs_then_fails_with_a_stockout_error(fast: Emulator, transport: str) -> None:
    """``emulator-capacity=preempted``: RUNNING first (start_time set), then FAILED naming STOCKOUT."""
    client = fast.job_client(transport)
    made = client.create_custom_job(
        parent=PARENT, custom_job=gpu_job(strategy="SPOT", **{"emulator-capacity": "preempted"})
    )
    job = ended(fast, client, made.name)
    assert job.state.name == "JOB_STATE_FAILED"
    assert "STOCKOUT" in job.error.message
    assert job.start_time


def test_a_quota_label_refuses_the_create_in_the_allocation_quota_shape(fast: Emulator, transport: str) -> None:
    """``emulator-capacity=quota``: 429 naming the accelerator's training metric, and no job."""
    client = fast.job_client(transport)
    with pytest.raises(exceptions.TooManyRequests) as refused:
        client.create_custom_job(parent=PARENT, custom_job=gpu_job(**{"emulator-capacity": "quota"}))
    metric = "aiplatform.googleapis.com/custom_model_training_nvidia_t4_gpus"
    assert refused.value.message.endswith(f"The following quota metrics exceed quota limits: {metric}")
    assert fast.jobs() == []


def test_region_scoped_rules_hit_only_the_jobs_they_match(fast: Emulator) -> None:
    """A stockout of T4s in us-central1 spares L4s there and T4s in europe-west4; the first matching rule wins."""
    fast.configure(
        capacity=[
            {"kind": "stockout", "region": "us-central1", "accelerator_type": "NVIDIA_TESLA_T4"},
            {"kind": "preempted", "strategy": "SPOT"},
        ]
    )
    client = fast.job_client()
    europe = PARENT.replace("us-central1", "europe-west4")
    t4 = ended(fast, client, client.create_custom_job(parent=PARENT, custom_job=gpu_job()).name)
    l4 = ended(fast, client, client.create_custom_job(parent=PARENT, custom_job=gpu_job("NVIDIA_L4")).name)
    elsewhere = ended(fast, client, client.create_custom_job(parent=europe, custom_job=gpu_job()).name)
    spot = ended(fast, client, client.create_custom_job(parent=europe, custom_job=gpu_job(strategy="SPOT")).name)
    assert [job.state.name for job in (t4, l4, elsewhere, spot)] == [
        "JOB_STATE_FAILED",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
    ]
    assert t4.error.message == STOCKOUT.format("us-central1")
    assert "STOCKOUT" in spot.error.message
    label_wins = gpu_job(**{"emulator-capacity": "none"})
    assert ended(fast, client, client.create_custom_job(parent=PARENT, custom_job=label_wins).name).error.code == 0


def test_a_bad_capacity_label_or_rule_is_refused(fast: Emulator) -> None:
    """A misspelt label answers INVALID_ARGUMENT; a bad rule is a 400 from the control API and changes nothing."""
    client = fast.job_client()
    with pytest.raises(exceptions.InvalidArgument, match="emulator-capacity"):
        client.create_custom_job(parent=PARENT, custom_job=gpu_job(**{"emulator-capacity": "stockot"}))
    with pytest.raises(EmulatorError, match="capacity rule kind"):
        fast.configure(capacity=[{"kind": "drought"}])
    with pytest.raises(EmulatorError, match="unknown capacity rule key"):
        fast.configure(capacity=[{"kind": "stockout", "zone": "us-central1-a"}])
    assert fast.control("GET", "config")["capacity"] == []
