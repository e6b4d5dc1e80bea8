"""Chaos runner: plays ``Schedule``s against private emulators with the real launcher process, checks each one.

A ``Worker`` owns one emulator subprocess (its own ports, state file and request-log file) and runs schedules one
after another on it (``reset`` between them); ``run_campaign`` runs N schedules on P workers in parallel threads
(the work is two subprocesses per worker, so threads suffice). For every schedule the worker: resets the emulator,
creates the earlier job of the schedule if any (over REST), installs the fault rules, starts the launcher, makes the
event happen at its moment (signal, SIGKILL + rerun, emulator restart, outage + rerun), waits for the calls still in
flight to land, lets CANCELLING jobs settle, and hands an ``Observation`` to ``oracle.check``.

Called by ``tests/chaos/test_chaos.py`` (the fast subset) and ``scripts/chaos.py`` (``make chaos``).
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.oracle import Violation, check, own_jobs
from tests.chaos.schedule import (
    FALLBACK_REGION,
    LONG_RUN_SECONDS,
    NEVER,
    RESUBMIT_DELAY_SECONDS,
    Schedule,
    generate,
)
from tests.fixtures.emulator import Emulator, EmulatorError
from tests.launcher import launcher_env
from tests.pipelines import compile_pipeline

#: Emulator lifecycle for chaos (simulated seconds at 20× real time): ~0.2 s queued+pending, 0.1 s cancelling.
EMULATOR_ARGS = (
    "--time-scale",
    "20",
    "--queued-seconds",
    "2",
    "--pending-seconds",
    "2",
    "--run-seconds",
    "10",
    "--cancel-seconds",
    "2",
)
#: No launcher process may take longer than this (real seconds); past it the schedule is a violation ("hung").
LAUNCH_TIMEOUT_SECONDS = 120.0
#: How long to wait for an event's moment (a stalled call, a running job) before giving up on the event.
PHASE_TIMEOUT_SECONDS = 60.0
#: How long CANCELLING may take to become CANCELLED after the run (the emulator needs 0.1 s).
SETTLE_SECONDS = 5.0
#: The retry budget of the run the outage event must exhaust (exit 5).
OUTAGE_BUDGET_SECONDS = "2"
#: How often the harness looks at the emulator while waiting for a moment.
POLL_SECONDS = 0.05


@dataclass
class Launch:
    """One launcher process of a schedule and what the harness did to it."""

    role: str
    exit_code: int
    stdout: str
    stderr: str
    wall_seconds: float
    started_at: float = 0.0
    ended_at: float = 0.0
    termination_message: str | None = None
    signal: str | None = None
    killed: bool = False
    event_done: bool = False
    note: str | None = None

    @property
    def lines(self) -> list[str]:
        """Non-empty stdout lines."""
        return [line for line in self.stdout.splitlines() if line.strip()]

    @property
    def result(self) -> dict[str, Any] | None:
        """The last stdout record, parsed (None when there is none or it is not JSON)."""
        if not self.lines:
            return None
        try:
            record = json.loads(self.lines[-1])
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def to_json(self) -> dict[str, Any]:
        """Summary for reports (without the full output)."""
        result = self.result or {}
        return {
            "role": self.role,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "killed": self.killed,
            "event_done": self.event_done,
            "note": self.note,
            "outcome": result.get("outcome"),
            "wall_seconds": round(self.wall_seconds, 2),
        }


@dataclass
class Observation:
    """Everything one schedule did and left behind, for the oracle."""

    schedule: Schedule
    launches: list[Launch] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    earlier_job: str | None = None
    fired: dict[str, int] = field(default_factory=dict)
    harness_errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


@dataclass
class Report:
    """A checked schedule."""

    observation: Observation
    violations: list[Violation]
    workdir: Path | None = None

    @property
    def schedule(self) -> Schedule:
        """The schedule this report is about."""
        return self.observation.schedule

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary."""
        obs = self.observation
        return {
            "schedule": self.schedule.to_json(),
            "describe": self.schedule.describe(),
            "launches": [launch.to_json() for launch in obs.launches],
            "jobs": [{"name": j["name"], "state": j["state"], "labels": j["labels"]} for j in obs.jobs],
            "violations": [v.to_json() for v in self.violations],
            "harness_errors": obs.harness_errors,
            "wall_seconds": round(obs.wall_seconds, 2),
            "workdir": str(self.workdir) if self.workdir else None,
        }


@dataclass(frozen=True)
class Assets:
    """Per-campaign inputs: a compiled pipeline and the create bodies used for a schedule's earlier job."""

    pipeline_template: Path
    custom_body: dict[str, Any]
    pipeline_body: dict[str, Any]


def prepare_assets(root: Path) -> Assets:
    """Compile the test pipeline once and render both create bodies with the real launcher (no network)."""
    root.mkdir(parents=True, exist_ok=True)
    template = compile_pipeline(root / "pipeline.yaml")
    bodies: dict[str, dict[str, Any]] = {}
    for kind, extra in (("custom", {}), ("pipeline", _pipeline_settings(template))):
        env = launcher_env(None, root, run_key="earlier", schedule_name="render", **extra)
        done = subprocess.run(
            [sys.executable, "-m", "vertex_launcher", "render"],
            env=env,
            capture_output=True,
            text=True,
            timeout=LAUNCH_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            msg = f"render ({kind}) failed: {done.stderr}"
            raise RuntimeError(msg)
        request = json.loads(done.stdout)
        bodies[kind] = request["customJob"] if kind == "custom" else request["pipelineJob"]
    return Assets(pipeline_template=template, custom_body=bodies["custom"], pipeline_body=bodies["pipeline"])


def _pipeline_settings(template: Path) -> dict[str, Any]:
    return {
        "job_type": "pipeline",
        "image_uri": None,
        "pipeline_template": str(template),
        "pipeline_parameters": {"day": "{{scheduled_date}}", "epochs": 2},
    }


class Worker:
    """One emulator and the schedules run on it, one at a time."""

    def __init__(self, root: Path, assets: Assets, *, keep: bool = False) -> None:
        self.root = root
        self.assets = assets
        self.keep = keep
        self.request_log = root / "requests.jsonl"
        self.emulator = Emulator(*EMULATOR_ARGS, "--request-log", str(self.request_log), workdir=root / "emulator")
        self._log_offset = 0

    def start(self) -> Worker:
        """Start the emulator."""
        self.emulator.start()
        return self

    def stop(self) -> None:
        """Stop the emulator."""
        self.emulator.stop()

    # ----- one schedule -----

    def execute(self, schedule: Schedule) -> Report:
        """Run one schedule and check it."""
        started = time.monotonic()
        workdir = self.root / schedule.name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        obs = Observation(schedule=schedule)
        try:
            self._play(schedule, obs, workdir)
        except (EmulatorError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            obs.harness_errors.append(f"{type(exc).__name__}: {exc}")
        obs.wall_seconds = time.monotonic() - started
        violations = check(obs)
        for launch in obs.launches:
            (workdir / f"{launch.role}.stdout").write_text(launch.stdout, encoding="utf-8")
            (workdir / f"{launch.role}.stderr").write_text(launch.stderr, encoding="utf-8")
        failed = bool(violations or obs.harness_errors)
        if failed or self.keep:
            report = Report(obs, violations, workdir)
            (workdir / "report.json").write_text(json.dumps(report.to_json(), indent=2), encoding="utf-8")
            (workdir / "requests.json").write_text(json.dumps(obs.requests, indent=1), encoding="utf-8")
            return report
        shutil.rmtree(workdir, ignore_errors=True)
        return Report(obs, violations, None)

    def _play(self, s: Schedule, obs: Observation, workdir: Path) -> None:
        em = self.emulator
        if not em.running:
            em.start()
        em.reset()
        if s.earlier != "none":
            obs.earlier_job = self._make_earlier(s)
        if s.capacity_kind is not None:  # after the earlier job, which must not meet the trouble
            region = None if s.everywhere else "us-central1"
            em.configure(capacity=[{"kind": s.capacity_kind, **({"region": region} if region else {})}])
        # From here on the request log holds only the launcher's calls.
        self._log_offset = self.request_log.stat().st_size if self.request_log.exists() else 0
        em.add_faults(s.rules())
        env = self._env(s, workdir)
        obs.launches.append(self._launch(s, env, "run", workdir))
        if s.event == "outage-then-rerun" and not em.running:
            em.start()
        if s.reruns:
            self._quiesce(s, obs)
            if s.rerun_after_stop and s.on_terminate == "detach":
                self._end_detached_job(s)
            if s.event == "outage-then-rerun":
                env = {**env, "VERTEX_LAUNCHER_TRANSIENT_RETRY_SECONDS": "600"}
            obs.launches.append(self._launch(s, env, "rerun", workdir))
        self._quiesce(s, obs)
        obs.jobs = self._settled_jobs(s)
        obs.requests = self._requests()
        obs.fired = self._fired(s)

    def _env(self, s: Schedule, workdir: Path) -> dict[str, str]:
        settings: dict[str, Any] = {
            "run_key": s.run_key,
            "schedule_name": s.schedule_name,
            "wait": str(s.wait).lower(),
            "on_terminate": s.on_terminate,
            "concurrency_policy": s.concurrency,
            "labels": {"emulator-outcome": s.outcome, "emulator-run-seconds": str(s.run_seconds)},
        }
        if s.job_type == "pipeline":
            settings |= _pipeline_settings(self.assets.pipeline_template)
        if s.event == "timeout":
            settings["timeout_seconds"] = str(s.timeout_seconds)
        if s.event == "outage-then-rerun":
            settings["transient_retry_seconds"] = OUTAGE_BUDGET_SECONDS
        if s.resubmit_on is not None:
            settings["resubmit_on"] = s.resubmit_on
            settings["resubmit_fallbacks"] = [{"region": FALLBACK_REGION}]
            delay = RESUBMIT_DELAY_SECONDS if s.event == "sigkill-resubmit" else 0
            settings["resubmit_delay_seconds"] = str(delay)
        return launcher_env(self.emulator, workdir, **settings)

    def _make_earlier(self, s: Schedule) -> str:
        """An earlier run's job of the same schedule (another run key), active or already finished."""
        parent = "projects/demo/locations/us-central1"
        labels = {
            "vertex-launcher-run": f"{s.run_key}-earlier",
            "vertex-launcher-schedule": s.schedule_name,
            "emulator-run-seconds": "36000",
        }
        if s.job_type == "custom":
            body = {**self.assets.custom_body, "labels": labels}
            url = f"{self.emulator.rest}/v1/{parent}/customJobs"
        else:
            body = {**self.assets.pipeline_body, "labels": labels}
            url = f"{self.emulator.rest}/v1/{parent}/pipelineJobs?pipelineJobId={s.schedule_name}-earlier"
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            name = str(json.loads(response.read())["name"])
        if s.earlier == "finished":
            prefix = "JOB_STATE_" if s.job_type == "custom" else "PIPELINE_STATE_"
            self.emulator.force(name, f"{prefix}SUCCEEDED")
        return name

    # ----- one launcher process and its event -----

    def _launch(self, s: Schedule, env: dict[str, str], role: str, workdir: Path) -> Launch:
        out_path, err_path = workdir / f"{role}.out", workdir / f"{role}.err"
        message_path = Path(env["VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH"])
        message_path.unlink(missing_ok=True)
        started, started_at = time.monotonic(), time.time()
        with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "vertex_launcher"], env=env, stdout=out, stderr=err, text=True
            )
        launch = Launch(role=role, exit_code=0, stdout="", stderr="", wall_seconds=0.0, started_at=started_at)
        try:
            if role == "run":
                self._make_event(s, process, launch)
            elif s.run_seconds == LONG_RUN_SECONDS and s.wait:
                self._end_new_jobs(s, process)
            try:
                process.wait(LAUNCH_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                launch.note = f"hung: still running after {LAUNCH_TIMEOUT_SECONDS:g} s; killed"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        launch.exit_code = process.returncode
        launch.wall_seconds = time.monotonic() - started
        launch.ended_at = time.time()
        if message_path.exists():
            launch.termination_message = message_path.read_text(encoding="utf-8")
        launch.stdout = out_path.read_text(encoding="utf-8")
        launch.stderr = err_path.read_text(encoding="utf-8")
        out_path.unlink()
        err_path.unlink()
        return launch

    def _make_event(self, s: Schedule, process: subprocess.Popen[str], launch: Launch) -> None:
        event = s.event
        if event in ("none", "timeout", "quota", "stockout", "preempted", "quota-resubmit"):
            return
        if event == "sigkill-random":
            deadline = time.monotonic() + s.kill_after
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(POLL_SECONDS)
            if process.poll() is None:
                process.kill()
                launch.killed = launch.event_done = True
            return
        ready = self._moment(s, event)
        if not self._wait_for(ready, process):
            launch.note = f"the moment of {event} never came (the launcher ended first)"
            return
        if event.startswith("sigterm"):
            process.send_signal(getattr(signal, s.signal))
            launch.signal = s.signal
        elif event.startswith("sigkill"):
            process.kill()
            launch.killed = True
        elif event in ("restart-watching", "restart-create"):
            self.emulator.restart()
        elif event in ("paused-watching", "cancelled-elsewhere"):
            self._force_end(s, process)
        elif event == "outage-then-rerun":
            self.emulator.stop()
        launch.event_done = True

    def _moment(self, s: Schedule, event: str) -> Callable[[], bool]:
        m = s.methods
        if event == "sigterm-lookup":
            return lambda: self._in_flight(m["list"]) > 0
        if event in ("sigterm-create", "restart-create"):
            return lambda: self._in_flight(m["create"]) > 0
        if event in ("sigterm-create-ambiguous", "sigkill-create-ambiguous"):
            return lambda: self._in_flight(m["create"]) > 0 and bool(own_jobs(s, self.emulator.jobs()))
        if event == "sigkill-resubmit":  # attempt 1 has failed: the launcher is in its pause before attempt 2
            return lambda: any(job["state"].endswith("_FAILED") for job in own_jobs(s, self.emulator.jobs()))
        return lambda: self._watching(s)

    def _force_end(self, s: Schedule, process: subprocess.Popen[str]) -> None:
        """PAUSED until the launcher has looked twice, then the outcome; or CANCELLED by someone else."""
        name = own_jobs(s, self.emulator.jobs())[0]["name"]
        prefix = "JOB_STATE_" if s.job_type == "custom" else "PIPELINE_STATE_"
        if s.event == "cancelled-elsewhere":
            self.emulator.force(name, f"{prefix}CANCELLED")
            return
        self.emulator.force(name, f"{prefix}PAUSED")
        seen = self._gets(s, name)
        self._wait_for(lambda: self._gets(s, name) >= seen + 2, process)
        self.emulator.force(name, prefix + s.outcome.upper())

    def _end_new_jobs(self, s: Schedule, process: subprocess.Popen[str]) -> None:
        """A rerun's new attempt of a long job (the resume after a drain) ends as the schedule says once RUNNING."""
        prefix = "JOB_STATE_" if s.job_type == "custom" else "PIPELINE_STATE_"
        before = {job["name"] for job in own_jobs(s, self.emulator.jobs())}
        deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            for job in own_jobs(s, self.emulator.jobs()):
                if job["name"] not in before and job["state"] == prefix + "RUNNING":
                    self.emulator.force(job["name"], prefix + s.outcome.upper())
                    return
            time.sleep(POLL_SECONDS)

    def _end_detached_job(self, s: Schedule) -> None:
        """The detached job (long on purpose) ends with the schedule's outcome before the replacement pod starts."""
        prefix = "JOB_STATE_" if s.job_type == "custom" else "PIPELINE_STATE_"
        for job in own_jobs(s, self.emulator.jobs()):
            if not job["state"].endswith(("SUCCEEDED", "FAILED", "CANCELLED", "CANCELLING")):
                self.emulator.force(job["name"], prefix + s.outcome.upper())

    def _gets(self, s: Schedule, name: str) -> int:
        return sum(1 for r in self._requests() if r["method"] == s.methods["get"] and r["resource"] == name)

    def _watching(self, s: Schedule) -> bool:
        jobs = own_jobs(s, self.emulator.jobs())
        if s.event == "sigterm-attempt-2":  # the attempt in the fallback region, once it runs
            jobs = [job for job in jobs if job["labels"].get("vertex-launcher-attempt") == "2"]
            if not jobs or not jobs[0]["state"].endswith("RUNNING"):
                return False
        if not jobs:
            return False
        return self._gets(s, jobs[0]["name"]) >= s.watch_gets

    @staticmethod
    def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[str]) -> bool:
        deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if ready():
                return process.poll() is None
            time.sleep(POLL_SECONDS)
        return False

    # ----- emulator bookkeeping -----

    def _requests(self) -> list[dict[str, Any]]:
        """Request-log entries of this schedule (the file survives emulator restarts)."""
        if not self.request_log.exists():
            return []
        with self.request_log.open("rb") as handle:
            handle.seek(self._log_offset)
            data = handle.read().decode("utf-8")
        lines = data.splitlines()
        if data and not data.endswith("\n"):
            lines = lines[:-1]  # a line being written right now
        return [json.loads(line) for line in lines if line.strip()]

    def _counted(self) -> dict[str, int]:
        rules = self.emulator.control("GET", "config")["faults"]
        return {rule["method"]: int(rule["seen"]) for rule in rules if rule["nth"] == NEVER}

    def _in_flight(self, method: str) -> int:
        logged = sum(1 for r in self._requests() if r["method"] == method)
        return self._counted().get(method, 0) - logged

    def _quiesce(self, s: Schedule, obs: Observation) -> None:
        """Wait until every call that reached the emulator has been answered (a killed run's stalled create)."""
        if not self.emulator.running:
            return
        deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if all(self._in_flight(method) <= 0 for method in s.methods.values()):
                return
            time.sleep(POLL_SECONDS)
        obs.harness_errors.append("calls still in flight at the emulator after a minute")

    def _settled_jobs(self, s: Schedule) -> list[dict[str, Any]]:
        deadline = time.monotonic() + SETTLE_SECONDS
        jobs = self.emulator.jobs()
        while any(j["state"].endswith("CANCELLING") for j in own_jobs(s, jobs)) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            jobs = self.emulator.jobs()
        return jobs

    def _fired(self, s: Schedule) -> dict[str, int]:
        rules = self.emulator.control("GET", "config")["faults"]
        kinds = [f"event:{s.event}"] * len(s.event_rules()) + [fault.kind for fault in s.faults]
        fired: Counter[str] = Counter()
        for kind, rule in zip(kinds, rules, strict=False):
            hits = max(0, int(rule["seen"]) - int(rule["nth"]) + 1)
            fired[kind] += min(hits, int(rule["count"])) if rule["count"] else hits
        return dict(fired)


@dataclass
class Campaign:
    """The outcome of running many schedules."""

    seed: int
    reports: list[Report]
    wall_seconds: float
    parallel: int

    @property
    def violations(self) -> list[Report]:
        """Reports with at least one violation or harness error."""
        return [r for r in self.reports if r.violations or r.observation.harness_errors]

    def summary(self) -> dict[str, Any]:
        """Figures for docs/chaos-results.json and the console."""
        events: Counter[str] = Counter(r.schedule.event for r in self.reports)
        scheduled: Counter[str] = Counter(f.kind for r in self.reports for f in r.schedule.faults)
        fired: Counter[str] = Counter()
        for report in self.reports:
            fired.update(report.observation.fired)
        missed: Counter[str] = Counter(
            r.schedule.event for r in self.reports for launch in r.observation.launches if launch.note
        )
        exit_codes: Counter[str] = Counter(
            str(launch.exit_code) for r in self.reports for launch in r.observation.launches
        )
        by_invariant: Counter[str] = Counter(v.invariant for r in self.reports for v in r.violations)
        dims: dict[str, Counter[str]] = {
            "job_type": Counter(r.schedule.job_type for r in self.reports),
            "wait": Counter(str(r.schedule.wait).lower() for r in self.reports),
            "on_terminate": Counter(r.schedule.on_terminate for r in self.reports),
            "outcome": Counter(r.schedule.outcome for r in self.reports),
            "concurrency": Counter(f"{r.schedule.concurrency}/earlier={r.schedule.earlier}" for r in self.reports),
            "resubmit_on": Counter(r.schedule.resubmit_on or "-" for r in self.reports),
            "jobs_per_run": Counter(str(len(own_jobs(r.schedule, r.observation.jobs))) for r in self.reports),
        }
        return {
            "seed": self.seed,
            "schedules": len(self.reports),
            "violations": sum(len(r.violations) for r in self.reports),
            "schedules_with_violations": len([r for r in self.reports if r.violations]),
            "harness_errors": sum(len(r.observation.harness_errors) for r in self.reports),
            "wall_seconds": round(self.wall_seconds, 1),
            "parallel": self.parallel,
            "launcher_processes": sum(len(r.observation.launches) for r in self.reports),
            "events": dict(sorted(events.items())),
            "events_missed": dict(sorted(missed.items())),
            "faults_scheduled": dict(sorted(scheduled.items())),
            "faults_fired": dict(sorted(fired.items())),
            "exit_codes": dict(sorted(exit_codes.items(), key=lambda kv: int(kv[0]))),
            "violations_by_invariant": dict(sorted(by_invariant.items())),
            "dimensions": {name: dict(sorted(counter.items())) for name, counter in dims.items()},
        }


def run_campaign(
    *,
    seed: int,
    indices: list[int],
    parallel: int,
    root: Path | None = None,
    keep: bool = False,
    on_report: Callable[[Report, int, int], None] | None = None,
) -> Campaign:
    """Run the schedules ``indices`` of campaign ``seed`` on ``parallel`` workers; every emulator is stopped after."""
    started = time.monotonic()
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="chaos-"))
    base.mkdir(parents=True, exist_ok=True)
    assets = prepare_assets(base / "assets")
    todo: queue.Queue[int] = queue.Queue()
    for index in indices:
        todo.put(index)
    reports: list[Report] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(number: int) -> None:
        worker = Worker(base / f"worker-{number}", assets, keep=keep)
        try:
            worker.start()
            while True:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                report = worker.execute(generate(seed, index))
                with lock:
                    reports.append(report)
                    done = len(reports)
                if on_report is not None:
                    on_report(report, done, len(indices))
        except BaseException as exc:  # a worker that cannot start must fail the campaign, not hang it
            with lock:
                errors.append(exc)
        finally:
            worker.stop()

    threads = [threading.Thread(target=work, args=(n,), name=f"chaos-{n}") for n in range(max(1, parallel))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    reports.sort(key=lambda r: r.schedule.index)
    if not keep and not any(r.workdir for r in reports) and root is None:
        shutil.rmtree(base, ignore_errors=True)
    return Campaign(seed=seed, reports=reports, wall_seconds=time.monotonic() - started, parallel=parallel)


def repro_command(seed: int, index: int) -> str:
    """The command that replays one schedule."""
    return f"uv run --frozen --no-sync python scripts/chaos.py --seed {seed} --only {index} --keep"
