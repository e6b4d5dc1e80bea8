"""Chaos schedules: one seeded, reproducible scenario per ``(seed, index)``. Pure (no processes, no I/O).

``generate(seed, index)`` picks the event (round-robin over ``EVENTS`` by index, so any run of ≥ len(EVENTS)
schedules covers each one) and, from ``random.Random(f"{seed}:{index}")``, everything else: job type, WAIT,
ON_TERMINATE, outcome, CONCURRENCY_POLICY with or without an earlier job of the same schedule, whether capacity
failures are resubmitted, and a few transient fault rules. ``Schedule.rules()`` is the exact list of emulator fault
rules the runner installs. Used by ``tests/chaos/runner.py`` and ``scripts/chaos.py``; the same seed and index always
give the same schedule.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: What happens to the run besides transient faults.
EVENTS: tuple[str, ...] = (
    "none",  # transient faults only
    "sigterm-lookup",  # SIGTERM/SIGINT while the reattach lookup (the first List) is in flight
    "sigterm-create",  # SIGTERM/SIGINT while the create call is in flight (it then succeeds)
    "sigterm-create-ambiguous",  # SIGTERM/SIGINT while a create that made the job stalls, then DEADLINE_EXCEEDED
    "sigterm-watching",  # SIGTERM/SIGINT after a few GETs of a running job
    "sigkill-random",  # SIGKILL at a random moment, then a rerun with the same RUN_KEY
    "sigkill-create-ambiguous",  # SIGKILL after the create made the job but before it answered; rerun
    "sigkill-watching",  # SIGKILL while watching; rerun
    "restart-watching",  # the emulator restarts (state file keeps jobs) while the launcher watches
    "restart-create",  # the emulator restarts while a create is in flight (the connection drops after sending)
    "paused-watching",  # the job goes PAUSED for a while, then ends: PAUSED is not terminal
    "cancelled-elsewhere",  # someone else cancels the job while the launcher watches (exit 1, not 143)
    "timeout",  # TIMEOUT_SECONDS passes while a long job runs
    "outage-then-rerun",  # the API goes away until the retry budget is spent (exit 5); the pod retry reattaches
    "quota",  # an allocation-quota RESOURCE_EXHAUSTED on create (exit 1, fail fast, no job)
    "stockout",  # the home region has no capacity (or no region has): resubmitted to the fallback region, or not
    "preempted",  # the job's VMs are preempted in the home region: resubmitted to the fallback region, or not
    "quota-resubmit",  # the home region refuses the create for quota: resubmitted to the fallback region
    "sigterm-attempt-2",  # a stockout, then SIGTERM/SIGINT while attempt 2 runs; the replacement pod goes on
    "sigkill-resubmit",  # a stockout, then SIGKILL during the pause before the resubmission; the rerun resubmits
)

#: Events whose home region has capacity trouble (an emulator capacity rule) and which may resubmit elsewhere.
CAPACITY = frozenset({"stockout", "preempted", "quota-resubmit", "sigterm-attempt-2", "sigkill-resubmit"})
#: The region attempts go to when the home region (us-central1) fails them.
FALLBACK_REGION = "europe-west4"
#: MAX_ATTEMPTS of every schedule (the launcher's default).
MAX_ATTEMPTS = 3
#: RESUBMIT_DELAY_SECONDS of sigkill-resubmit (real seconds: the SIGKILL lands inside it); 0 elsewhere.
RESUBMIT_DELAY_SECONDS = 3.0

#: Events that need this run to reach its create call (impossible when Forbid skips the run).
NEEDS_CREATE = frozenset(EVENTS) - {"none", "sigterm-lookup", "sigkill-random"}
#: Events that resubmit after a failure seen while watching (WAIT=false cannot, and is refused with RESUBMIT_ON).
NEEDS_WAIT = frozenset({"stockout", "preempted", "sigterm-attempt-2", "sigkill-resubmit"})
#: Events whose moment is "while watching" (impossible with WAIT=false).
NEEDS_WATCH = frozenset(
    {
        "sigterm-watching",
        "sigkill-watching",
        "restart-watching",
        "timeout",
        "outage-then-rerun",
        "paused-watching",
        "cancelled-elsewhere",
        "sigterm-attempt-2",
    }
)
#: Events after which the run must stop with its job cancelled or detached (so the job must outlive the signal).
STOPS = frozenset(
    {"sigterm-lookup", "sigterm-create", "sigterm-create-ambiguous", "sigterm-watching", "timeout", "sigterm-attempt-2"}
)
#: Stops after which the pod may be replaced (a rerun with the same RUN_KEY), as after a node drain.
RERUN_AFTER_STOP = frozenset(
    {"sigterm-lookup", "sigterm-create", "sigterm-create-ambiguous", "sigterm-watching", "sigterm-attempt-2"}
)
#: Events after which the harness itself ends the job (by forcing its state), so the job must not end by itself.
FORCED_END = frozenset({"paused-watching", "cancelled-elsewhere"})

#: Transient fault kinds a schedule mixes in (each within the retry budget).
FAULT_KINDS: tuple[str, ...] = (
    "unavailable-list",
    "unavailable-get",
    "unavailable-create",
    "deadline-create-after-made",
    "rate-limit-429",
    "internal",
    "unavailable-cancel",
)

METHODS: dict[str, dict[str, str]] = {
    "custom": {
        "create": "CreateCustomJob",
        "get": "GetCustomJob",
        "list": "ListCustomJobs",
        "cancel": "CancelCustomJob",
    },
    "pipeline": {
        "create": "CreatePipelineJob",
        "get": "GetPipelineJob",
        "list": "ListPipelineJobs",
        "cancel": "CancelPipelineJob",
    },
}

#: Simulated seconds of a job that must not end by itself during the schedule.
LONG_RUN_SECONDS = 36_000
#: How long the injected stall of the event's call lasts (real seconds): the signal lands inside it.
EVENT_STALL_SECONDS = 1.0
#: A create stalled this long is still in flight when the restarting emulator drops its calls (after a 1 s grace).
RESTART_STALL_SECONDS = 3.0
#: A fault rule that counts every call of a method and never fires (nth is never reached).
NEVER = 10**9


@dataclass(frozen=True)
class Fault:
    """One transient fault rule of a schedule, with the kind it counts under."""

    kind: str
    rule: dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    """One chaos scenario."""

    seed: int
    index: int
    event: str
    job_type: Literal["custom", "pipeline"]
    wait: bool
    on_terminate: Literal["cancel", "detach"]
    outcome: Literal["succeeded", "failed"]
    concurrency: Literal["Allow", "Forbid", "Replace"]
    earlier: Literal["none", "active", "finished"]
    signal: Literal["SIGTERM", "SIGINT"]
    kill_after: float
    watch_gets: int
    run_seconds: int
    timeout_seconds: float
    apply_first: bool = False
    rerun_after_stop: bool = False
    #: Capacity events: RESUBMIT_ON names the failure (with the fallback region), and the trouble is everywhere.
    resubmit: bool = False
    everywhere: bool = False
    faults: tuple[Fault, ...] = field(default=())

    @property
    def name(self) -> str:
        """A short id: ``s<seed>-<index>``."""
        return f"s{self.seed}-{self.index:04d}"

    @property
    def run_key(self) -> str:
        """This run's RUN_KEY (already a valid label value)."""
        return f"chaos-{self.seed}-{self.index:04d}"

    @property
    def schedule_name(self) -> str:
        """This run's SCHEDULE_NAME (already a valid label value)."""
        return f"sched-{self.seed}-{self.index:04d}"

    @property
    def methods(self) -> dict[str, str]:
        """gRPC method names of this job type, by verb."""
        return METHODS[self.job_type]

    @property
    def reruns(self) -> bool:
        """Whether a second process with the same RUN_KEY follows the first one."""
        return self.event.startswith("sigkill") or self.event == "outage-then-rerun" or self.rerun_after_stop

    @property
    def capacity_kind(self) -> str | None:
        """The emulator capacity rule's kind in the home region (None: no capacity trouble)."""
        if self.event not in CAPACITY:
            return None
        return {"preempted": "preempted", "quota-resubmit": "quota"}.get(self.event, "stockout")

    @property
    def resubmit_on(self) -> str | None:
        """VERTEX_LAUNCHER_RESUBMIT_ON of this schedule."""
        if not self.resubmit:
            return None
        return {"preempted": "preempted", "quota-resubmit": "allocation-quota"}.get(self.event, "capacity")

    @property
    def blocked(self) -> bool:
        """Forbid with an earlier active job: the run must skip."""
        return self.concurrency == "Forbid" and self.earlier == "active"

    def event_rules(self) -> list[dict[str, Any]]:
        """Fault rules that make the event's moment (a stalled call the signal lands in), first in the list."""
        m = self.methods
        stall = {"count": 1, "delay_seconds": EVENT_STALL_SECONDS}
        if self.event == "sigterm-lookup":
            return [{"method": m["list"], "nth": 1, "code": None, **stall}]
        if self.event == "sigterm-create":
            return [{"method": m["create"], "nth": 1, "code": None, **stall}]
        if self.event in ("sigterm-create-ambiguous", "sigkill-create-ambiguous"):
            return [{"method": m["create"], "nth": 1, "code": "DEADLINE_EXCEEDED", "apply_first": True, **stall}]
        if self.event == "restart-create":
            code = "DEADLINE_EXCEEDED" if self.apply_first else None
            rule = {"method": m["create"], "nth": 1, "count": 1, "code": code, "apply_first": self.apply_first}
            return [rule | {"delay_seconds": RESTART_STALL_SECONDS}]
        if self.event == "quota":
            metric = "custom_model_training_nvidia_tesla_t4_gpus"
            return [{"method": m["create"], "nth": 1, "count": 1, "code": "RESOURCE_EXHAUSTED", "quota_metric": metric}]
        return []

    def counter_rules(self) -> list[dict[str, Any]]:
        """Rules that never fire but count every call per method (calls in flight = counted - logged)."""
        return [{"method": method, "nth": NEVER, "count": 1, "code": None} for method in self.methods.values()]

    def rules(self) -> list[dict[str, Any]]:
        """Every fault rule of this schedule, in the order the emulator must see them (the first that fires wins)."""
        return [*self.event_rules(), *(fault.rule for fault in self.faults), *self.counter_rules()]

    def describe(self) -> str:
        """One line for progress output and reports."""
        faults = ",".join(f.kind for f in self.faults) or "-"
        extra = ""
        if self.event.startswith("sig") and "kill" not in self.event:
            extra = f" {self.signal}"
        if self.event == "restart-create":
            extra = " after-made" if self.apply_first else " before-made"
        if self.event in CAPACITY:
            extra += f" resubmit={'on' if self.resubmit else 'off'}" + (" everywhere" if self.everywhere else "")
        if self.rerun_after_stop:
            extra += " +rerun"
        return (
            f"{self.name} {self.event}{extra} {self.job_type} wait={str(self.wait).lower()} "
            f"on_terminate={self.on_terminate} outcome={self.outcome} {self.concurrency}/earlier={self.earlier} "
            f"faults={faults}"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (for docs/chaos-results.json)."""
        data = asdict(self)
        data["faults"] = [{"kind": f.kind, **f.rule} for f in self.faults]
        data["name"] = self.name
        return data


def _fault(rng: random.Random, kind: str, m: dict[str, str]) -> Fault:  # noqa: PLR0911 - a table
    if kind == "unavailable-list":
        return Fault(kind, {"method": m["list"], "nth": rng.randint(1, 3), "count": rng.randint(1, 3)})
    if kind == "unavailable-get":
        return Fault(kind, {"method": m["get"], "nth": rng.randint(1, 5), "count": rng.randint(1, 4)})
    if kind == "unavailable-create":
        return Fault(kind, {"method": m["create"], "nth": 1, "count": rng.randint(1, 2)})
    if kind == "deadline-create-after-made":
        rule = {"method": m["create"], "nth": 1, "count": 1, "code": "DEADLINE_EXCEEDED", "apply_first": True}
        return Fault(kind, rule | {"delay_seconds": round(rng.uniform(0.0, 0.5), 2)})
    if kind == "rate-limit-429":
        method = m[rng.choice(("get", "list", "create", "cancel"))]
        rule = {"method": method, "nth": rng.randint(1, 3), "count": rng.randint(1, 2), "code": "RESOURCE_EXHAUSTED"}
        return Fault(kind, rule | {"retry_delay_seconds": round(rng.uniform(0.2, 1.5), 2)})
    if kind == "internal":
        method = m[rng.choice(("get", "list"))]
        return Fault(kind, {"method": method, "nth": rng.randint(1, 4), "count": rng.randint(1, 2), "code": "INTERNAL"})
    if kind == "unavailable-cancel":
        return Fault(kind, {"method": m["cancel"], "nth": 1, "count": rng.randint(1, 4)})
    msg = f"unknown fault kind {kind!r}"
    raise ValueError(msg)


def generate(seed: int, index: int) -> Schedule:
    """The schedule ``index`` of campaign ``seed`` (deterministic)."""
    rng = random.Random(f"{seed}:{index}")
    event = EVENTS[index % len(EVENTS)]
    job_type: Literal["custom", "pipeline"] = rng.choice(("custom", "custom", "pipeline"))
    if event == "quota-resubmit":
        job_type = "custom"  # a PipelineJob's create is never refused for its tasks' GPUs
    wait = True if event in NEEDS_WATCH | NEEDS_WAIT else rng.random() < 0.8
    on_terminate: Literal["cancel", "detach"] = rng.choice(("cancel", "detach"))
    outcome: Literal["succeeded", "failed"] = rng.choice(("succeeded", "failed"))
    concurrency: Literal["Allow", "Forbid", "Replace"] = rng.choice(("Allow", "Forbid", "Replace"))
    earlier: Literal["none", "active", "finished"] = rng.choice(("none", "active", "active", "finished"))
    if event in NEEDS_CREATE and concurrency == "Forbid" and earlier == "active":
        earlier = "finished"
    signal: Literal["SIGTERM", "SIGINT"] = rng.choice(("SIGTERM", "SIGTERM", "SIGINT"))
    kill_after = round(rng.uniform(0.5, 4.0), 2)
    watch_gets = rng.randint(0, 3)
    long_job = event in STOPS or event in FORCED_END or not wait
    if long_job:
        run_seconds = LONG_RUN_SECONDS
    elif event in NEEDS_WATCH:
        run_seconds = rng.randint(30, 80)  # outlives the moment of the event (a few GETs), ends soon after
    else:
        run_seconds = rng.randint(4, 24)
    timeout_seconds = round(rng.uniform(1.5, 4.0), 2)
    apply_first = rng.random() < 0.5
    # The pod replaced after an eviction: cancel → the rerun reports the CANCELLED job; detach → it reattaches.
    rerun_after_stop = event in RERUN_AFTER_STOP and (event == "sigterm-attempt-2" or rng.random() < 0.5)
    resubmit = event in ("sigterm-attempt-2", "sigkill-resubmit") or (event in CAPACITY and rng.random() < 0.75)
    everywhere = event in ("stockout", "preempted") and resubmit and rng.random() < 0.3
    kinds = rng.sample(FAULT_KINDS, k=rng.choice((0, 1, 2, 2, 3, 4)))
    faults = tuple(_fault(rng, kind, METHODS[job_type]) for kind in sorted(kinds))
    return Schedule(
        seed=seed,
        index=index,
        event=event,
        job_type=job_type,
        wait=wait,
        on_terminate=on_terminate,
        outcome=outcome,
        concurrency=concurrency,
        earlier=earlier,
        signal=signal,
        kill_after=kill_after,
        watch_gets=watch_gets,
        run_seconds=run_seconds,
        timeout_seconds=timeout_seconds,
        apply_first=apply_first,
        rerun_after_stop=rerun_after_stop,
        resubmit=resubmit,
        everywhere=everywhere,
        faults=faults,
    )
