"""``make bench``: the launcher and the Vertex SDK's ``CustomJob.run()`` side by side on the project's emulator.

Phases (each writes its raw figures into one JSON document; ``bench.report`` turns it into docs):
  sizes     (e) installed size of the image's dependency set vs the SDK's (``bench.envs``);
  cli       what ``--help``, ``--version``, ``render`` and a configuration error cost (lazy-import check);
  variants  short job, alternating: the shipped launcher (-OO bytecode, PYTHONOPTIMIZE=2), the same with plain
            .pyc (the image before), a candidate not shipped (exit without interpreter teardown) and the SDK:
            (a) start → create, (b) peak RSS, exit tail;
  realtime  a 1-minute job on a 1× clock, launcher and SDK alternating: (a), (b), (c) for 1 min, (d);
  scaled    1, 10 and 60 minutes of simulated runtime on a ``--time-scale F`` emulator; both sides' poll timing
            divided by F (launcher: POLL_* bounds; SDK: its 5 s constant), so both see the emulator's clock: (c), (d);
  fleet     (f) 100 launchers at once against Vertex's two request quotas, 600 CRUD calls and 60 job submissions
            per minute (``--rate-limit-per-minute 600 --submission-limit-per-minute 60``);
  model     (g) the real ``PollSchedule`` on a virtual clock for 1,000 concurrently watched jobs;
  logstream STREAM_LOGS: N launchers reading one project's log entries with the streamer's real ``ReadPacer``
            against Cloud Logging's 60 reads/min quota (entries.list), vs entries.tail's 10 sessions; what a job's
            log volume costs in reads.
Every launcher process runs from the image-like environment with the image's ``PYTHONOPTIMIZE=2`` (``bench.envs``);
each phase records when it ran and on which commit, so phases kept from an earlier run (``--only``) stay labelled.
Run: ``python -m bench [--reps N] [--scale F] [--only PHASE ...] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import model
from bench.envs import IMAGE_ENV, Envs, build_envs
from bench.procs import Proc, RequestLog, RssSampler, parse_time, renice
from tests.fixtures.emulator import Emulator
from vertex_launcher.poll import PollSchedule

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".build" / "bench"
PROJECT, REGION = "bench", "us-central1"
IMAGE_URI = "us-docker.pkg.dev/bench/r/train:1"
MIB = 1024.0
PHASES = ("sizes", "cli", "variants", "sizing", "realtime", "scaled", "fleet", "model", "logstream")
#: Phases that only simulate (no launcher process, no environments to build).
PURE_PHASES = frozenset({"model", "logstream"})

#: Every optional client the launcher may import on some path (Cloud Logging sink, gs:// templates, pipelines,
#: impersonation, workload identity federation): importing them all is the import ceiling of any configuration.
IMPORT_CEILING = """
import resource, vertex_launcher.__main__, vertex_launcher.auth, vertex_launcher.vertex, vertex_launcher.watch
from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
from google.cloud.storage import Client
from google.auth import impersonated_credentials, identity_pool, external_account
from google.auth.compute_engine import credentials
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

#: Launcher variants of phase ``variants``: extra environment (None: unset it), the interpreter (``image``: the
#: image-like environment, ``plain``: its plain-.pyc copy) and whether ``bench/launcher_variant.py`` wraps ``main()``.
#: "launcher" is what ships and what every other phase runs.
VARIANTS: dict[str, dict[str, Any]] = {
    "launcher": {"env": {}, "python": "image", "wrapped": False},
    "launcher, plain .pyc": {"env": {"PYTHONOPTIMIZE": None}, "python": "plain", "wrapped": False},
    "candidate: os._exit at the end": {"env": {"BENCH_FAST_EXIT": "1"}, "python": "image", "wrapped": True},
}


def say(message: str) -> None:
    """Progress on stderr (stdout stays quiet)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None, rounded; None when there are none."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    """A / b rounded, None if either is missing."""
    return round(a / b, 3) if a is not None and b else None


class Session:
    """Environments, a work directory and one RSS sampler shared by every phase."""

    def __init__(self, envs: Envs, workdir: Path) -> None:
        self.envs = envs
        self.workdir = workdir
        self.sampler = RssSampler()

    def base_env(self, home: Path) -> dict[str, str]:
        """What the image sets, plus a private HOME: nothing of this shell leaks into a measured process."""
        home.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def launcher_env(self, home: Path) -> dict[str, str]:
        """``base_env`` plus what the runtime image sets for the launcher (``PYTHONOPTIMIZE=2``)."""
        return self.base_env(home) | IMAGE_ENV

    def emulator(self, name: str, *args: str) -> tuple[Emulator, RequestLog]:
        """A fresh emulator (QUEUED/PENDING take no time: a job's runtime is its RUNNING time) and its log."""
        workdir = self.workdir / name
        log_path = workdir / "requests.jsonl"
        workdir.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        emulator = Emulator(
            "--request-log", str(log_path), "--queued-seconds", "0", "--pending-seconds", "0", *args, workdir=workdir
        )
        (workdir / "state.json").unlink(missing_ok=True)
        emulator.start()
        return emulator, RequestLog(log_path)

    def launcher(
        self,
        emulator: Emulator,
        phase: str,
        bench_id: str,
        run_seconds: int,
        *,
        scale: float = 1.0,
        variant: str = "launcher",
        poll: tuple[float, float] | None = None,
        extra: dict[str, str | None] | None = None,
    ) -> Proc:
        """A launcher process (not started) for a job of ``run_seconds`` simulated seconds."""
        workdir = self.workdir / phase
        initial, maximum = poll or (10.0 / scale, 300.0 / scale)
        spec = VARIANTS[variant]
        env = self.launcher_env(workdir / "home") | {
            "VERTEX_LAUNCHER_PROJECT": PROJECT,
            "VERTEX_LAUNCHER_REGION": REGION,
            "VERTEX_LAUNCHER_IMAGE_URI": IMAGE_URI,
            "VERTEX_LAUNCHER_CREDENTIALS": "anonymous",
            "VERTEX_LAUNCHER_API_ENDPOINT": emulator.grpc,
            "VERTEX_LAUNCHER_API_INSECURE": "true",
            "VERTEX_LAUNCHER_SCHEDULE_NAME": f"bench-{bench_id}",
            "VERTEX_LAUNCHER_RUN_KEY": f"{bench_id}-{uuid.uuid4().hex[:8]}",
            "VERTEX_LAUNCHER_LABELS": json.dumps({"emulator-run-seconds": str(run_seconds), "bench-id": bench_id}),
            "VERTEX_LAUNCHER_POLL_INITIAL_SECONDS": f"{initial:.6g}",
            "VERTEX_LAUNCHER_POLL_MAX_SECONDS": f"{maximum:.6g}",
            "VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH": str(workdir / f"{bench_id}.termination"),
        }
        for key, value in (spec["env"] | (extra or {})).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        python = str(self.envs.plain_python if spec["python"] == "plain" else self.envs.image_python)
        program = [str(ROOT / "bench" / "launcher_variant.py")] if spec["wrapped"] else ["-m", "vertex_launcher"]
        argv = [python, *program, "run"]
        return Proc(
            "launcher",
            bench_id,
            argv,
            env,
            workdir,
            meta={"variant": variant, "run_seconds": run_seconds, "scale": scale},
        )

    def sdk(self, emulator: Emulator, phase: str, bench_id: str, run_seconds: int, *, scale: float = 1.0) -> Proc:
        """An SDK reference process (not started), in the SDK-only environment."""
        workdir = self.workdir / phase
        env = self.base_env(workdir / "home") | {
            "BENCH_REST": emulator.rest,
            "BENCH_PROJECT": PROJECT,
            "BENCH_REGION": REGION,
            "BENCH_ID": bench_id,
            "BENCH_DISPLAY_NAME": f"bench-{bench_id}",
            "BENCH_RUN_SECONDS": str(run_seconds),
            "BENCH_TIME_SCALE": f"{scale:g}",
        }
        argv = [str(self.envs.sdk_python), str(ROOT / "bench" / "sdk_reference.py")]
        return Proc(
            "sdk", bench_id, argv, env, workdir, meta={"variant": "sdk", "run_seconds": run_seconds, "scale": scale}
        )

    def close(self) -> None:
        """Stop the sampler."""
        self.sampler.close()


# ----- running and analysing -----


def run_staggered(
    procs: list[Proc], log: RequestLog, session: Session, *, timeout: float, background_start: bool = False
) -> None:
    """Start each process once the previous one's create has arrived, then wait for all (kill after timeout).

    ``background_start``: each process starts at nice 19 and is set back to 0 once it has created its job, so its
    start-up does not delay the polling of those already watching (which matters on a scaled clock).
    """
    for proc in procs:
        proc.start(session.sampler, nice=19 if background_start else 0)
        if log.wait_for_create(proc) is None:
            say(f"{proc.bench_id}: exited or hung before creating a job (exit {proc.exit_code})")
        if background_start:
            proc.renice(0)
    deadline = time.monotonic() + timeout
    for proc in procs:
        if not proc.wait(max(0.0, deadline - time.monotonic())):
            say(f"{proc.bench_id}: still running after {timeout:.0f}s; killed")
            proc.kill()
            proc.wait(10)


def job_names(emulator: Emulator) -> dict[str, str]:
    """bench-id label → job resource name."""
    return {job["labels"]["bench-id"]: job["name"] for job in emulator.jobs() if "bench-id" in job["labels"]}


def analyse(proc: Proc, log: RequestLog, names: dict[str, str]) -> dict[str, Any]:
    """The figures of one finished process (times in seconds; simulated where it says ``sim``)."""
    scale = float(proc.meta["scale"])
    runtime = float(proc.meta["run_seconds"])
    name = names.get(proc.bench_id)
    gets = log.for_resource(name, "GetCustomJob") if name else []
    t_create = proc.meta.get("t_create")
    row: dict[str, Any] = {
        "tool": proc.label,
        "variant": proc.meta["variant"],
        "bench_id": proc.bench_id,
        "job": name,
        "exit_code": proc.exit_code,
        "run_seconds_sim": runtime,
        "scale": scale,
        "start_to_create_s": round(t_create - proc.t_start, 3) if t_create else None,
        "cpu_at_create_s": proc.meta.get("cpu_at_create"),
        "cpu_s": round(proc.cpu_seconds, 3),
        "peak_rss_mib": round(proc.max_rss_kib / MIB, 1),
        "wall_s": round(proc.t_exit - proc.t_start, 3) if proc.t_exit else None,
        "gets": len(gets),
        "get_errors": sum(1 for g in gets if g["code"] != "OK"),
    }
    if t_create is not None and proc.t_exit is not None:
        watching = [rss for t, rss in proc.rss_samples if t_create <= t <= proc.t_exit]
        row["watch_rss_mib"] = round(statistics.median(watching) / MIB, 1) if watching else None
        row["get_offsets_sim_s"] = [round((g["t"] - t_create) * scale, 2) for g in gets]
        terminal = t_create + runtime / scale
        seen = next((g for g in gets if g["t"] >= terminal and g["code"] == "OK"), None)
        if seen is not None:
            row["lag_poll_sim_s"] = round((seen["t"] - terminal) * scale, 3)
            row["lag_exit_s"] = round(proc.t_exit - seen["t"], 3)
            row["lag_s"] = round(row["lag_poll_sim_s"] + row["lag_exit_s"], 3)
        if gets:
            row["exit_tail_s"] = round(proc.t_exit - gets[-1]["t"], 3)
    if proc.label == "launcher":
        records = proc.stdout_records()
        final = records[-1] if records else {}
        row["outcome"] = final.get("outcome")
    else:
        row["outcome"] = "succeeded" if proc.exit_code == 0 else "failed"
    row["ok"] = proc.exit_code == 0 and row["outcome"] == "succeeded" and bool(name)
    return row


def summarize(rows: list[dict[str, Any]], keys: Iterable[str]) -> dict[str, Any]:
    """Median of each key over the rows, plus min/max and the count."""
    out: dict[str, Any] = {"runs": len(rows), "ok": sum(1 for r in rows if r.get("ok"))}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            out[key] = {"median": median(values), "min": min(values), "max": max(values)}
    return out


# ----- phases -----


def phase_cli(session: Session, reps: int) -> dict[str, Any]:
    """Cost of the paths that must never pay for the GAPIC import, and of render (which validates with it)."""
    workdir = session.workdir / "cli"
    python = str(session.envs.image_python)
    config = {
        "VERTEX_LAUNCHER_PROJECT": PROJECT,
        "VERTEX_LAUNCHER_REGION": REGION,
        "VERTEX_LAUNCHER_IMAGE_URI": IMAGE_URI,
    }
    cases: dict[str, tuple[list[str], dict[str, str]]] = {
        "--help": (["--help"], {}),
        "--version": (["--version"], {}),
        "config error (no REGION)": (["run"], {"VERTEX_LAUNCHER_IMAGE_URI": IMAGE_URI}),
        "config error (unknown variable)": (["run"], config | {"VERTEX_LAUNCHER_REGON": REGION}),
        "render": (["render"], config),
    }
    results: dict[str, Any] = {}
    for case, (args, extra) in cases.items():
        rows: list[dict[str, float | None]] = []
        for rep in range(reps + 1):
            env = session.launcher_env(workdir / "home") | extra
            if rep == reps:
                env["PYTHONPROFILEIMPORTTIME"] = "1"  # one more run only to see what it imported
            proc = Proc("launcher", f"cli-{len(results)}-{rep}", [python, "-m", "vertex_launcher", *args], env, workdir)
            proc.meta.update(variant="launcher", scale=1, run_seconds=0)
            proc.start()
            proc.wait(120)
            if rep == reps:
                imported = proc.stderr_path.read_text(encoding="utf-8", errors="replace")
                results[case] = {
                    "exit_code": proc.exit_code,
                    "imports_gapic": "google.cloud.aiplatform_v1" in imported,
                    "imports_grpc": "| grpc\n" in imported or "| grpc._cython" in imported,
                    "wall_s": median(r["wall_s"] for r in rows),
                    "peak_rss_mib": median(r["peak_rss_mib"] for r in rows),
                    "cpu_s": median(r["cpu_s"] for r in rows),
                }
            else:
                rows.append(
                    {
                        "wall_s": proc.t_exit - proc.t_start if proc.t_exit else None,
                        "peak_rss_mib": proc.max_rss_kib / MIB,
                        "cpu_s": proc.cpu_seconds,
                    }
                )
    return results


def phase_variants(session: Session, reps: int) -> dict[str, Any]:
    """Short jobs, every variant once per round in rotating order: start → create, peak RSS, exit tail."""
    emulator, log = session.emulator("variants")
    members = [*VARIANTS, "sdk"]
    if session.envs.plain_python is None:
        members = [m for m in members if VARIANTS.get(m, {}).get("python") != "plain"]
    rows: list[dict[str, Any]] = []
    try:
        for rep in range(reps):
            order = members[rep % len(members) :] + members[: rep % len(members)]
            for index, member in enumerate(order):
                bench_id = f"v{rep}-{index}"
                if member == "sdk":
                    proc = session.sdk(emulator, "variants", bench_id, 2)
                else:
                    proc = session.launcher(emulator, "variants", bench_id, 2, variant=member, poll=(1.0, 5.0))
                run_staggered([proc], log, session, timeout=120)
                rows.append(analyse(proc, log, job_names(emulator)) | {"rep": rep})
    finally:
        emulator.stop()
    keys = ("start_to_create_s", "cpu_at_create_s", "peak_rss_mib", "watch_rss_mib", "exit_tail_s", "cpu_s")
    by_variant = {m: summarize([r for r in rows if r["variant"] == m], keys) for m in members}
    return {"job_seconds": 2, "launcher_poll": [1.0, 5.0], "rows": rows, "by_variant": by_variant}


def phase_sizing(session: Session, reps: int) -> dict[str, Any]:
    """The memory the manifests need: a PipelineJob run (the heavier kind) and the import ceiling of every path."""
    emulator, _ = session.emulator("sizing")
    pipeline = {
        "VERTEX_LAUNCHER_JOB_TYPE": "pipeline",
        "VERTEX_LAUNCHER_IMAGE_URI": None,
        "VERTEX_LAUNCHER_PIPELINE_TEMPLATE": str(ROOT / "examples" / "nightly-pipeline.yaml"),
        "VERTEX_LAUNCHER_PIPELINE_PARAMETERS": json.dumps({"day": "2026-01-31"}),
    }
    rows = []
    try:
        for rep in range(reps):
            proc = session.launcher(emulator, "sizing", f"p{rep}", 3, poll=(1.0, 5.0), extra=pipeline)
            proc.start(session.sampler)
            proc.wait(120)
            records = proc.stdout_records()
            rows.append(
                {
                    "exit_code": proc.exit_code,
                    "outcome": (records[-1] if records else {}).get("outcome"),
                    "peak_rss_mib": round(proc.max_rss_kib / MIB, 1),
                }
            )
    finally:
        emulator.stop()
    ceilings = []
    for _ in range(reps):
        done = Proc("launcher", "ceiling", [str(session.envs.image_python), "-c", IMPORT_CEILING], {}, session.workdir)
        done.env = session.launcher_env(session.workdir / "home")
        done.start()
        done.wait(120)
        ceilings.append(int(done.stdout_path.read_text().split()[-1]) / MIB)
    probe = Proc("launcher", "gapic", [str(session.envs.image_python), "-c", GAPIC_SHARE], {}, session.workdir)
    probe.env = session.launcher_env(session.workdir / "home")
    probe.start()
    probe.wait(120)
    before, after = (int(v) / MIB for v in probe.stdout_path.read_text().split())
    return {
        "gapic_package_mib": round(after - before, 1),
        "pipeline_runs": rows,
        "pipeline_peak_rss_mib": median(r["peak_rss_mib"] for r in rows),
        "import_ceiling_mib": median(ceilings),
        "import_ceiling_modules": IMPORT_CEILING.strip().splitlines()[1:-1],
    }


#: RSS (KiB) before and after importing the aiplatform_v1 package on top of what it shares with the rest.
GAPIC_SHARE = """
import google.api_core.gapic_v1, google.api_core.exceptions, google.auth.transport.requests, grpc, proto
def rss():
    return next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmRSS:"))
before = rss()
import google.cloud.aiplatform_v1
print(before, rss())
"""


def phase_realtime(session: Session, reps: int, runtime: int) -> dict[str, Any]:
    """A job of ``runtime`` s on a 1× clock; launcher (defaults 10 s / 300 s) and SDK alternate."""
    emulator, log = session.emulator("realtime")
    rows: list[dict[str, Any]] = []
    try:
        for rep in range(reps):
            order = ["launcher", "sdk"] if rep % 2 == 0 else ["sdk", "launcher"]
            for tool in order:
                bench_id = f"rt{rep}-{tool}"
                if tool == "sdk":
                    proc = session.sdk(emulator, "realtime", bench_id, runtime)
                else:
                    proc = session.launcher(emulator, "realtime", bench_id, runtime)
                say(f"realtime {bench_id} ({runtime}s job)")
                run_staggered([proc], log, session, timeout=runtime + 120)
                rows.append(analyse(proc, log, job_names(emulator)) | {"rep": rep})
    finally:
        emulator.stop()
    keys = ("start_to_create_s", "cpu_at_create_s", "peak_rss_mib", "watch_rss_mib", "gets", "lag_s", "lag_exit_s")
    return {
        "job_seconds": runtime,
        "rows": rows,
        "launcher": summarize([r for r in rows if r["tool"] == "launcher"], keys),
        "sdk": summarize([r for r in rows if r["tool"] == "sdk"], keys),
    }


def phase_scaled(session: Session, reps: int, scale: float, runtimes: list[int]) -> dict[str, Any]:
    """Per runtime, one batch of ``reps`` launchers and ``reps`` SDK runs, interleaved, on a scaled clock.

    Each starts once the previous one has created its job (no two start-ups overlap); then all watch together.
    """
    emulator, log = session.emulator("scaled", "--time-scale", f"{scale:g}")
    renice(emulator.pid, -5)  # the emulator answers everyone: it must not queue behind a start-up
    batches: dict[str, Any] = {}
    try:
        for runtime in runtimes:
            procs: list[Proc] = []
            for rep in range(reps):
                for tool in ("launcher", "sdk") if rep % 2 == 0 else ("sdk", "launcher"):
                    bench_id = f"s{runtime}-{rep}-{tool}"
                    if tool == "sdk":
                        procs.append(session.sdk(emulator, "scaled", bench_id, runtime, scale=scale))
                    else:
                        procs.append(session.launcher(emulator, "scaled", bench_id, runtime, scale=scale))
            say(
                f"scaled: {len(procs)} processes, {runtime / 60:g} min jobs at {scale:g}x ({runtime / scale:.0f}s real)"
            )
            run_staggered(procs, log, session, timeout=runtime / scale + 180, background_start=True)
            names = job_names(emulator)
            rows = [analyse(p, log, names) for p in procs]
            keys = ("gets", "lag_s", "lag_poll_sim_s", "lag_exit_s")
            launcher = summarize([r for r in rows if r["tool"] == "launcher"], keys)
            sdk = summarize([r for r in rows if r["tool"] == "sdk"], keys)
            sdk_intervals = [
                b - a
                for r in rows
                if r["tool"] == "sdk"
                for a, b in zip(r.get("get_offsets_sim_s", []), r.get("get_offsets_sim_s", [])[1:], strict=False)
            ]
            batches[str(runtime)] = {
                "rows": rows,
                "launcher": launcher,
                "sdk": sdk,
                "sdk_mean_interval_sim_s": round(statistics.fmean(sdk_intervals), 3) if sdk_intervals else None,
                "model_launcher_gets_no_jitter": PollSchedule().get_calls(runtime),
                "model_sdk_gets": len(model.sdk_get_times(runtime)),
            }
    finally:
        emulator.stop()
    return {"scale": scale, "runtimes": runtimes, "batches": batches}


#: Vertex's default request quotas per project and region (requests per minute), which phase fleet enforces.
CRUD_PER_MINUTE, SUBMISSIONS_PER_MINUTE = model.CRUD_QUOTA_PER_MINUTE, model.SUBMISSION_QUOTA_PER_MINUTE
CREATES = ("CreateCustomJob", "CreatePipelineJob")


def phase_fleet(session: Session, count: int, runtime: int, poll: tuple[float, float]) -> dict[str, Any]:
    """``count`` launchers started at once against an emulator enforcing both request quotas (no RetryInfo)."""
    available = _mem_available_mib()
    if available < count * 160 + 2048:
        reduced = max(10, int((available - 2048) // 160))
        say(f"fleet: only {available:.0f} MiB available; {reduced} launchers instead of {count}")
        count = reduced
    emulator, log = session.emulator(
        "fleet",
        "--rate-limit-per-minute",
        str(CRUD_PER_MINUTE),
        "--submission-limit-per-minute",
        str(SUBMISSIONS_PER_MINUTE),
    )
    procs = [
        session.launcher(emulator, "fleet", f"f{i:03d}", runtime, variant="launcher", poll=poll) for i in range(count)
    ]
    t0 = time.time()
    try:
        for proc in procs:
            proc.start(session.sampler)
        say(f"fleet: {count} launchers started, {runtime}s jobs, poll {poll[0]:g}-{poll[1]:g}s")
        deadline = time.monotonic() + 900
        for proc in procs:
            if not proc.wait(max(0.0, deadline - time.monotonic())):
                proc.kill()
                proc.wait(10)
        t_end = time.time()
        jobs = emulator.jobs()
    finally:
        for proc in procs:
            proc.kill()
        emulator.stop()
    log.poll()
    by_run = Counter(job["labels"].get("vertex-launcher-run") for job in jobs)
    states = {job["labels"].get("vertex-launcher-run"): job["state"] for job in jobs}
    per_proc: list[dict[str, Any]] = []
    for proc in procs:
        records = proc.stdout_records()
        final = records[-1] if records else {}
        run_key = proc.env["VERTEX_LAUNCHER_RUN_KEY"]
        retries = [r for r in records if str(r.get("message", "")).endswith("retrying")]
        refused_creates = [r for r in records if "create failed" in str(r.get("message", ""))]
        submitted = next((parse_time(r["time"]) for r in records if r.get("message") == "job submitted"), None)
        first = parse_time(records[0]["time"]) if records else None
        per_proc.append(
            {
                "bench_id": proc.bench_id,
                "exit_code": proc.exit_code,
                "outcome": final.get("outcome"),
                "jobs_for_run": by_run.get(run_key, 0),
                "job_state": states.get(run_key),
                "rate_limited_retries": sum(1 for r in retries if r.get("error_code") == "RESOURCE_EXHAUSTED"),
                "create_retries": len(refused_creates),
                "rate_limited_creates": sum(1 for r in refused_creates if r.get("error_code") == "RESOURCE_EXHAUSTED"),
                # Start-up (CPU-bound: 100 interpreters on a shared machine) apart from the API-side wait (the two
                # lists, the create, and its retries while the submission window is full).
                "startup_s": round(first - proc.t_start, 1) if first else None,
                "configured_to_submitted_s": round(submitted - first, 1) if submitted and first else None,
                "peak_rss_mib": round(proc.max_rss_kib / MIB, 1),
                "wall_s": round(proc.t_exit - proc.t_start, 1) if proc.t_exit else None,
            }
        )
    correct = [
        p
        for p in per_proc
        if p["exit_code"] == 0
        and p["outcome"] == "succeeded"
        and p["jobs_for_run"] == 1
        and p["job_state"] == "JOB_STATE_SUCCEEDED"
    ]
    exhausted = [e for e in log.entries if e["code"] == "RESOURCE_EXHAUSTED"]
    accepted = [e for e in log.entries if e["code"] != "RESOURCE_EXHAUSTED"]
    start = min((e["t"] for e in log.entries), default=t0)
    accepted_crud = [e for e in accepted if e["method"] not in CREATES]
    accepted_creates = [e for e in accepted if e["method"] in CREATES]
    totals = [total for t, total in session.sampler.totals if t0 <= t <= t_end]
    startups = [p["startup_s"] for p in per_proc if p["startup_s"] is not None]
    submit_waits = [p["configured_to_submitted_s"] for p in per_proc if p["configured_to_submitted_s"] is not None]
    return {
        "launchers": count,
        "job_seconds": runtime,
        "poll_bounds": list(poll),
        "correct": len(correct),
        "exit_codes": dict(Counter(str(p["exit_code"]) for p in per_proc)),
        "duplicate_jobs": sum(max(0, n - 1) for n in by_run.values()),
        "requests": len(log.entries),
        "quotas_per_minute": {"crud": CRUD_PER_MINUTE, "submissions": SUBMISSIONS_PER_MINUTE},
        "rate_limited": len(exhausted),
        "rate_limited_by_method": dict(Counter(e["method"] for e in exhausted)),
        "rate_limited_by_quota": {
            "crud": sum(1 for e in exhausted if e["method"] not in CREATES),
            "submissions": sum(1 for e in exhausted if e["method"] in CREATES),
        },
        "requests_by_method": dict(Counter(e["method"] for e in log.entries)),
        "accepted_crud_per_minute": _per_minute(accepted_crud, start),
        "accepted_creates_per_minute": _per_minute(accepted_creates, start),
        "max_accepted_crud_in_any_60s": _max_in_window([e["t"] for e in accepted_crud], 60.0),
        "max_accepted_creates_in_any_60s": _max_in_window([e["t"] for e in accepted_creates], 60.0),
        "launcher_logged_rate_limit_retries": sum(p["rate_limited_retries"] for p in per_proc),
        "launchers_whose_create_was_rate_limited": sum(1 for p in per_proc if p["rate_limited_creates"]),
        "startup_s": {"median": median(startups), "max": max(startups, default=None)},
        "configured_to_submitted_s": {"median": median(submit_waits), "max": max(submit_waits, default=None)},
        "wall_s": round(t_end - t0, 1),
        "peak_total_rss_mib": round(max(totals) / MIB, 0) if totals else None,
        "peak_rss_mib_median": median(p["peak_rss_mib"] for p in per_proc),
        "per_launcher": per_proc,
    }


def _mem_available_mib() -> float:
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / MIB
    return 0.0


def _per_minute(entries: list[dict[str, Any]], start: float) -> list[int]:
    """How many of ``entries`` fall in each whole minute after ``start``."""
    counts = Counter(int((e["t"] - start) // 60) for e in entries)
    return [counts.get(m, 0) for m in range(max(counts, default=-1) + 1)]


def _max_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def phase_model() -> dict[str, Any]:
    """(g) and the README's GET-cost table, from the real PollSchedule on a virtual clock."""
    schedule = PollSchedule()
    rng = random.Random(5)
    table = []
    for runtime in (60, 600, 3600, 4 * 3600, 12 * 3600):
        jittered = [len(model.watch_get_times(runtime, schedule, rng)) for _ in range(300)]
        base = model.watch_get_times(runtime, schedule, None)
        lags = [model.detection_lag(runtime, model.watch_get_times(runtime, schedule, rng)) for _ in range(300)]
        table.append(
            {
                "runtime_s": runtime,
                "launcher_gets_no_jitter": len(base),
                "launcher_gets_jitter_median": statistics.median(jittered),
                "launcher_gets_jitter_max": max(jittered),
                "launcher_lag_max_s": round(max(lags), 1),
                "lag_bound_s": max(10.0, 0.1 * runtime),
                "sdk_gets": len(model.sdk_get_times(runtime)),
            }
        )
    started = time.monotonic()
    tradeoff = []
    candidates = ((10, 0.1, 0.2), (10, 0.1, 0.0), (10, 0.1, 0.05), (15, 0.1, 0.2), (10, 0.15, 0.2), (20, 0.2, 0.2))
    sdk_10 = len(model.sdk_get_times(600))
    for initial, fraction, jitter in candidates:
        candidate = PollSchedule(initial=initial, fraction=fraction, jitter=jitter)
        gets_10 = statistics.median(len(model.watch_get_times(600, candidate, rng)) for _ in range(300))
        tradeoff.append(
            {
                "initial": initial,
                "fraction": fraction,
                "jitter": jitter,
                "shipped": candidate == schedule,
                "gets_10min_median": gets_10,
                "gets_10min_no_jitter": len(model.watch_get_times(600, candidate, None)),
                "worst_lag_over_bound": round(model.worst_lag_ratio(candidate), 3),
                "meets_c": gets_10 <= 0.2 * sdk_10,
                "meets_d": model.worst_lag_ratio(candidate) <= 1.0,
                "fleet_peak_gets_per_minute": model.simulate_fleet(schedule=candidate).peak_gets_per_minute,
            }
        )
    steady = model.simulate_fleet()
    steady_uniform = model.simulate_fleet(sample=model.uniform(600, 43200), distribution="uniform 10 min - 12 h")
    burst = model.simulate_fleet(synchronized=True)
    return {
        "get_cost": table,
        "schedule_tradeoff": tradeoff,
        "fleet": {
            "steady_log_uniform": steady.to_json(with_series=True),
            "steady_uniform": steady_uniform.to_json(),
            "synchronized_start": burst.to_json()
            | {"minutes_over_600": sum(1 for g in burst.gets_per_minute if g > 600)},
        },
        "simulation_seconds": round(time.monotonic() - started, 1),
    }


def phase_logstream() -> dict[str, Any]:
    """How many streaming launchers one project's read quota fits, and what the pacing does beyond that."""
    started = time.monotonic()
    shipped = model.SHIPPED_STREAM
    fits = 0
    while model.simulate_log_fleet(launchers=fits + 1).refused_per_minute == 0:
        fits += 1
    counts = sorted({1, 5, 10, 20, 30, 50, 100, fits, fits + 1})
    fleet = [model.simulate_log_fleet(launchers=n).to_json() for n in counts]
    polls = [
        model.simulate_log_fleet(launchers=n, poll=poll).to_json()
        for poll in (10.0, 15.0, 30.0, 60.0)
        for n in (5, 13, 25, 50)
    ]
    pacing = [
        model.simulate_log_fleet(launchers=n, recovery=recovery, maximum=maximum).to_json()
        for recovery, maximum in ((0.75, 300.0), (0.9, 300.0), (0.5, 120.0), (0.9, 120.0), (0.75, 60.0))
        for n in (40, 100)
    ]
    return {
        "poll_seconds": shipped.poll,
        "lag_seconds": shipped.lag,
        "quota_per_minute": model.LOGGING_READS_PER_MINUTE,
        "tail_sessions_per_project": model.TAIL_SESSIONS_PER_PROJECT,
        "fits_without_refusal": fits,
        "fleet": fleet,
        "poll_tradeoff": polls,
        "pacing_tradeoff": pacing,
        "read_cost": [model.log_read_cost(lines) for lines in (12, 600, 3000, 10_000, 20_000)],
        "simulation_seconds": round(time.monotonic() - started, 1),
    }


# ----- main -----


def machine() -> dict[str, Any]:
    """Where the figures were taken (the load average says how busy the machine was)."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem_kib = int(handle.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def source_commit() -> str | None:
    """The commit of the measured source (``+changes`` when ``src/`` differs from it); None outside a checkout."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603, S607

    try:
        head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if dirty else head


def build_record(commit: str | None) -> dict[str, Any]:
    """How the launcher a phase measured was built and run (stored with the phase's figures)."""
    return {"commit": commit, "bytecode": "-OO (hash-checked .opt-2.pyc only)", "env": dict(IMAGE_ENV)}


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument("--scale", type=float, default=20.0, help="emulator clock speed of the scaled phase")
    parser.add_argument("--realtime-seconds", type=int, default=60, help="job length of the 1x phase (default 60)")
    parser.add_argument("--fleet", type=int, default=100, help="concurrent launchers of phase fleet (default 100)")
    parser.add_argument("--only", nargs="+", choices=PHASES, help="run only these phases (others keep old figures)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 rep, short jobs, 10 launchers")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.{json,md} and the PNG go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the phases, write docs/benchmarks.json, docs/benchmarks.md and the poll-timeline PNG."""
    from bench import report

    args = parse(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.reps, args.realtime_seconds, args.fleet = 1, 20, 10
    phases = set(args.only or PHASES)
    json_path = args.out / "benchmarks.json"
    data: dict[str, Any] = json.loads(json_path.read_text()) if args.only and json_path.exists() else {}
    started = time.monotonic()
    commit = source_commit()
    now = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine_before": machine(), "commit": commit}
    if args.only:
        data.setdefault("meta", now | {"reps": args.reps, "quick": args.quick})
        data["meta"].setdefault("reruns", []).append(
            now | {"phases": [p for p in PHASES if p in phases], "reps": args.reps, "quick": args.quick}
        )
    else:
        data["meta"] = now | {"reps": args.reps, "quick": args.quick}
    session: Session | None = None
    if phases - PURE_PHASES:
        say("building the image-like and SDK-only environments")
        measured, built = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
        envs, sizes = build_envs(ROOT, WORKDIR)
        if "sizes" in phases:
            data["sizes"] = sizes | {
                "phase_seconds": round(time.monotonic() - built, 1),
                "measured": measured,
                "build": build_record(commit),
            }
        session = Session(envs, WORKDIR / "runs")
    live = session  # set whenever a phase that needs it was selected
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("cli", lambda: phase_cli(live, args.reps)),  # type: ignore[arg-type]
        ("variants", lambda: phase_variants(live, args.reps)),  # type: ignore[arg-type]
        ("sizing", lambda: phase_sizing(live, args.reps)),  # type: ignore[arg-type]
        ("realtime", lambda: phase_realtime(live, args.reps, args.realtime_seconds)),  # type: ignore[arg-type]
        ("scaled", lambda: phase_scaled(live, args.reps, args.scale, [60, 600, 3600])),  # type: ignore[arg-type]
        ("fleet", lambda: phase_fleet(live, args.fleet, 60, (2.0, 10.0))),  # type: ignore[arg-type]
        ("model", phase_model),
        ("logstream", phase_logstream),
    ]
    try:
        for name, step in steps:
            if name in phases:
                say(f"phase {name}")
                measured, phase_started = datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic()
                data[name] = step() | {
                    "phase_seconds": round(time.monotonic() - phase_started, 1),
                    "measured": measured,
                    "build": build_record(commit),
                }
    finally:
        if session is not None:
            session.close()
    if args.only:
        data["meta"]["reruns"][-1] |= {"seconds": round(time.monotonic() - started, 1), "machine_after": machine()}
    else:
        data["meta"]["machine_after"] = machine()
        data["meta"]["bench_seconds"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    report.write(data, args.out)
    say(f"done in {time.monotonic() - started:.0f}s: {json_path}, {args.out / 'benchmarks.md'}")
    return 0
