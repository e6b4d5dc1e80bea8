"""Simulated capacity trouble: stockouts, Spot preemptions and allocation-quota refusals, per job and per region.

Decided once, when ``service.Api`` creates a job: the job's label ``emulator-capacity`` (``stockout``,
``preempted``, ``quota`` or ``none``) wins; else the first ``capacity`` rule of the runtime configuration whose
criteria all match (region of the parent, a worker pool's machine or accelerator type, the scheduling strategy)::

    {"capacity": [{"kind": "stockout", "region": "us-central1", "accelerator_type": "NVIDIA_TESLA_T4"},
                  {"kind": "preempted", "strategy": "SPOT"}]}

What each kind does follows Vertex's documentation ("Understand the serverless training service", "Use Spot VMs
with training"): a stockout fails the job after PENDING without it ever running, with Vertex's documented message;
a preemption fails a SPOT job after it ran, with a STOCKOUT error (Vertex does not publish the exact wording); a
quota refusal answers the create RESOURCE_EXHAUSTED in the allocation-quota shape and makes no job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vertex_launcher.emulator.errors import ApiError, allocation_quota_exceeded
from vertex_launcher.emulator.validation import gpu_metric

CAPACITY_LABEL = "emulator-capacity"
KINDS = ("stockout", "preempted", "quota")
#: google.rpc.Code RESOURCE_EXHAUSTED: the code of the job's ``error`` after a stockout or preemption (assumed).
RESOURCE_EXHAUSTED = 8


def stockout_message(region: str) -> str:
    """Vertex's documented message for a Compute Engine stockout of a training job."""
    return f"Resources are insufficient in region: {region}. Try a different region or use a different accelerator."


def preempted_message() -> str:
    """A Spot preemption: Vertex documents a STOCKOUT error; this wording is the emulator's own."""
    return "STOCKOUT: the job's Spot VMs were preempted and could not be restarted (simulated by the emulator)."


@dataclass(frozen=True)
class CapacityRule:
    """One region-scoped rule; a criterion left None matches anything."""

    kind: str
    region: str | None = None
    machine_type: str | None = None
    accelerator_type: str | None = None
    strategy: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CapacityRule:
        """Build and check a rule; ValueError names the bad key or value."""
        known = {"kind", "region", "machine_type", "accelerator_type", "strategy"}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown capacity rule key(s) {unknown}; known: {sorted(known)}"
            raise ValueError(msg)
        if data.get("kind") not in KINDS:
            msg = f"capacity rule kind must be one of {list(KINDS)}, got {data.get('kind')!r}"
            raise ValueError(msg)
        for key, value in data.items():
            if not isinstance(value, str | None):
                msg = f"capacity rule {key} must be a string or null, got {value!r}"
                raise TypeError(msg)
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """JSON-able form."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def matches(self, region: str, pools: list[tuple[str, str | None]], strategy: str) -> bool:
        """Whether a job in ``region`` with these (machine type, accelerator type) pools and strategy matches."""
        if self.region not in (None, region) or self.strategy not in (None, strategy):
            return False
        if self.machine_type is not None and all(machine != self.machine_type for machine, _ in pools):
            return False
        return self.accelerator_type is None or any(accel == self.accelerator_type for _, accel in pools)


def _pools(job: Any) -> list[tuple[str, str | None]]:
    if not hasattr(job, "job_spec"):
        return []
    out = []
    for pool in job.job_spec.worker_pool_specs:
        machine = pool.machine_spec
        accelerator = None
        if machine.accelerator_count:
            enum = type(machine).DESCRIPTOR.fields_by_name["accelerator_type"].enum_type
            accelerator = enum.values_by_number[machine.accelerator_type].name
        out.append((machine.machine_type, accelerator))
    return out


def _strategy(job: Any) -> str:
    if not hasattr(job, "job_spec") or not job.job_spec.scheduling.strategy:
        return "STANDARD"
    enum = type(job.job_spec.scheduling).DESCRIPTOR.fields_by_name["strategy"].enum_type
    return str(enum.values_by_number[job.job_spec.scheduling.strategy].name)


def decide(job: Any, region: str, rules: list[CapacityRule]) -> str | None:
    """The capacity trouble a new job meets: its label, else the first matching rule (a bad label: INVALID_ARGUMENT)."""
    label = dict(job.labels).get(CAPACITY_LABEL)
    if label is not None:
        if label not in (*KINDS, "none"):
            msg = f"Label {CAPACITY_LABEL} must be one of {[*KINDS, 'none']}, got {label!r}."
            raise ApiError("INVALID_ARGUMENT", msg)
        return None if label == "none" else label
    pools, strategy = _pools(job), _strategy(job)
    return next((rule.kind for rule in rules if rule.matches(region, pools, strategy)), None)


def quota_refusal(job: Any) -> ApiError:
    """The allocation-quota answer to a create: the metric of the job's first accelerator (or its CPUs)."""
    accelerators = [accel for _, accel in _pools(job) if accel]
    return allocation_quota_exceeded(gpu_metric(accelerators[0]) if accelerators else "custom_model_training_cpus")
