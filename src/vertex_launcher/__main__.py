"""The composition root: Settings → logging → signals → identity → backend → run → result → exit code.

The only module that reads the environment, installs signal handlers and builds the real adapters; everything
below gets them as arguments. ``main`` is the console script ``vertex-launcher`` and ``python -m vertex_launcher``.
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import sys
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from vertex_launcher import cli
from vertex_launcher.clock import SystemClock
from vertex_launcher.errors import ConfigError, LauncherError
from vertex_launcher.jobs import JobBackend, JobRequest
from vertex_launcher.logs import LogPipeline, configure_logging, monitored_resource
from vertex_launcher.poll import PollSchedule
from vertex_launcher.result import ExitCode, Outcome, RunResult
from vertex_launcher.settings import PREFIX, Settings, load_settings
from vertex_launcher.shutdown import ExitWatchdog, Finisher
from vertex_launcher.spec import Run, build_request, describe_run

if TYPE_CHECKING:
    from vertex_launcher.auth import Identity
    from vertex_launcher.logstream import LogSource, LogStreamer

log = structlog.get_logger("vertex_launcher")


def version() -> str:
    """The installed package version."""
    try:
        return metadata.version("vertex-launcher")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    invocation = cli.parse(sys.argv[1:] if argv is None else argv)
    if invocation.command == "emulator":
        from vertex_launcher.emulator import main as emulator_main

        return emulator_main(invocation.rest)
    if invocation.command == "version":
        print(version())
        return 0
    # Start-up allocates many long-lived objects (protobuf descriptors, clients) and no cycles worth collecting:
    # collect nothing until the backend is built (-0.2 s CPU to the create, docs/benchmarks.md).
    gc.disable()
    clock = SystemClock()
    _install_signal_handlers(clock)
    fmt = os.environ.get(f"{PREFIX}LOG_FORMAT", "json").lower()
    logs = configure_logging(fmt="console" if fmt == "console" else "json", level="INFO", labels={})
    finisher = Finisher(started=clock.monotonic(), clock=clock, logs=logs, version=version())
    ExitWatchdog(finisher).start()
    result: RunResult
    try:
        settings = finisher.settings = load_settings()
        logs = finisher.logs = configure_logging(fmt=settings.log_format, level=settings.log_level, labels={})
        run = describe_run(settings, clock.now())
        logs.bind_labels(**_labels(run))
        if invocation.command == "render":
            return _render(settings, run)
        result = _launch(invocation.command, settings, run, finisher)
    except LauncherError as exc:
        if isinstance(exc, ConfigError):
            one_line = " ".join(exc.message.split())
            print(f"vertex-launcher: configuration error: {one_line}", file=sys.stderr)
        result = _error_result(exc, stopped=clock.stop_reason)
    except Exception as exc:  # a bug: still end with the result record and a code that does not retry blindly
        log.exception("unexpected error")
        result = _error_result(LauncherError(f"unexpected {type(exc).__name__}: {exc}"), stopped=None)
    finisher.finish(result)
    return int(result.exit_code)


def _install_signal_handlers(clock: SystemClock) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        clock.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _labels(run: Run) -> dict[str, str]:
    labels = {"run_key": run.key, "schedule": run.schedule}
    if run.namespace:
        labels["namespace"] = run.namespace
    return labels


def _render(settings: Settings, run: Run) -> int:
    from vertex_launcher.templates import make_loader
    from vertex_launcher.vertex import create_request_json

    request = build_request(settings, run, project=settings.project, load_template=make_loader(None))
    print(json.dumps(create_request_json(request), indent=2, sort_keys=True))
    return 0


def _launch(command: str, settings: Settings, run: Run, finisher: Finisher) -> RunResult:
    from vertex_launcher.attempts import AttemptPolicy, Attempts, RunBackend
    from vertex_launcher.auth import resolve_identity
    from vertex_launcher.templates import gcs_reader, make_loader, registry_reader
    from vertex_launcher.vertex import GapicBackend
    from vertex_launcher.watch import Policy, Watcher

    clock, logs = finisher.clock, finisher.logs
    # Everything that can be checked offline is checked before credentials are even looked for.
    _check(settings, build_request(settings, run, project=settings.project, load_template=make_loader(None)))
    log.info("configuration loaded", **_summary(settings, run))
    if run.key_is_fresh:
        log.warning("no RUN_KEY or K8S_JOB_UID: a retried pod cannot find this run's job (fine for a one-off)")
    if settings.api_insecure and settings.api_insecure_remote:
        log.warning("plaintext gRPC toward a remote endpoint (API_INSECURE_REMOTE)", api_endpoint=settings.api_endpoint)
    identity = resolve_identity(settings, clock=clock)
    project = finisher.project = settings.project or identity.project
    log.info(
        "credentials ready",
        credential_source=identity.source,
        principal=identity.principal,
        source_principal=identity.source_principal,
        project=project,
    )
    if not project:
        msg = "VERTEX_LAUNCHER_PROJECT: not set, and the credentials name no project (set it or GOOGLE_CLOUD_PROJECT)"
        raise ConfigError(msg)
    if settings.log_sink == "cloud-logging":
        logs.attach_cloud_logging(
            credentials=identity.credentials,
            project=project,
            endpoint=settings.logging_api_endpoint,
            insecure=settings.api_insecure,
            resource=monitored_resource(
                project=project,
                namespace=settings.k8s_namespace,
                pod_name=os.environ.get("HOSTNAME"),
                container_name="launcher",
            ),
        )
    loader = make_loader(
        gcs_reader(identity.credentials, project),
        registry_reader(identity.credentials, settings.artifact_registry_endpoint),
    )
    request = build_request(settings, run, project=project, load_template=loader)
    _check(settings, request)
    if command == "doctor":
        from vertex_launcher.doctor import run_doctor

        return run_doctor(settings=settings, identity=identity, request=request)
    attempts = AttemptPolicy(
        max_attempts=settings.max_attempts,
        resubmit_on=frozenset(settings.resubmit_on),
        resubmit_max_attempts=settings.resubmit_max_attempts,
        fallbacks=tuple(settings.resubmit_fallbacks),
        resubmit_delay=settings.resubmit_delay_seconds,
        resume=settings.on_terminate == "cancel",
    )
    backend = RunBackend(
        lambda region: GapicBackend(
            kind=request.kind,
            region=region,
            credentials=identity.credentials,
            endpoint=settings.api_endpoint,
            insecure=settings.api_insecure,
        ),
        regions=[settings.region, *attempts.regions],
        monotonic=clock.monotonic,
    )
    policy = Policy(
        wait=settings.wait,
        timeout=settings.timeout_seconds,
        on_terminate=settings.on_terminate,
        concurrency=settings.concurrency_policy,
        schedule=PollSchedule(initial=settings.poll_initial_seconds, maximum=settings.poll_max_seconds),
        cancel_grace=settings.cancel_grace_seconds,
        transient_budget=settings.transient_retry_seconds,
        heartbeat=settings.heartbeat_seconds,
    )
    streamer = _log_streamer(settings, identity, request, clock, logs)  # None unless STREAM_LOGS=true
    rng = random.Random()

    def job_known(name: str) -> None:
        _job_known(name, logs, finisher)
        if streamer is not None:
            streamer.start(name)

    def watcher(*, backend: JobBackend, **per_attempt: Any) -> Watcher:
        observed = streamer.observe(backend) if streamer is not None else backend
        return Watcher(backend=observed, clock=clock, rng=rng, project=project, on_job=job_known, **per_attempt)

    gc.freeze()  # what start-up made lives to the end; keep it out of every later collection
    gc.enable()
    try:
        result = Attempts(backend=backend, clock=clock, policy=policy, attempts=attempts, watcher=watcher).run(request)
    except BaseException:
        if streamer is not None:
            streamer.stop()  # no line of the job may follow the result record
        raise
    return streamer.finish(result) if streamer is not None else result


def _check(settings: Settings, request: JobRequest) -> None:
    """The request, and the one of every RESUBMIT_FALLBACKS choice, as Vertex will read it (ConfigError if not)."""
    from vertex_launcher.attempts import fallback_requests
    from vertex_launcher.vertex import canonical

    canonical(request)
    for index, fallback in enumerate(fallback_requests(request, settings.resubmit_fallbacks)):
        try:
            canonical(fallback)
        except ConfigError as exc:
            detail = exc.message.removeprefix("VERTEX_LAUNCHER_SPEC_FILE: ")
            msg = f"{PREFIX}RESUBMIT_FALLBACKS[{index}]: {detail}"
            raise ConfigError(msg) from None


def _log_streamer(
    settings: Settings, identity: Identity, request: JobRequest, clock: SystemClock, logs: LogPipeline
) -> LogStreamer | None:
    """STREAM_LOGS=true with WAIT=true: the job's own log entries on stdout, read on their own thread."""
    if not (settings.stream_logs and settings.wait):
        return None
    from vertex_launcher.jobs import logs_url
    from vertex_launcher.logstream import LogStreamer, StreamPolicy

    def source() -> LogSource:  # imported and connected on the streamer's thread
        from vertex_launcher.logsource import GapicLogSource

        endpoint, insecure = settings.logging_api_endpoint, settings.api_insecure
        return GapicLogSource(
            credentials=identity.credentials, project=request.project, endpoint=endpoint, insecure=insecure
        )

    policy = StreamPolicy(
        poll=settings.stream_logs_poll_seconds,
        lag=settings.stream_logs_lag_seconds,
        drain=settings.stream_logs_drain_seconds,
        max_lines_per_minute=settings.stream_logs_max_lines_per_minute,
    )
    return LogStreamer(
        source_factory=source,
        write=logs.write_external,
        clock=clock,
        policy=policy,
        kind=request.kind,
        logs_url=lambda name: logs_url(request.kind, name, request.project),
    )


def _job_known(name: str, logs: LogPipeline, finisher: Finisher) -> None:
    """The run's Vertex job: on every later record's labels, and in a result the exit watchdog may have to write."""
    logs.bind_labels(job=name)
    finisher.track(name)


def _summary(settings: Settings, run: Run) -> dict[str, Any]:
    """What this run will do, without values that could hold secrets (ENV values, parameters)."""
    what: dict[str, Any]
    if settings.job_type == "custom":
        what = {"image_uri": settings.image_uri, "spec_file": str(settings.spec_file) if settings.spec_file else None}
    else:
        what = {"pipeline_template": settings.pipeline_template, "parameters": sorted(settings.pipeline_parameters)}
    return {
        "job_type": settings.job_type,
        "project": settings.project,
        "region": settings.region,
        "schedule": run.schedule,
        "run_key": run.key,
        "scheduled_time": run.scheduled_time.isoformat(),
        "wait": settings.wait,
        "timeout_seconds": settings.timeout_seconds,
        "on_terminate": settings.on_terminate,
        "concurrency_policy": settings.concurrency_policy,
        "api_endpoint": settings.api_endpoint,
        "env_names": sorted(settings.env),
        **{k: v for k, v in what.items() if v},
    }


def _error_result(exc: LauncherError, *, stopped: str | None) -> RunResult:
    if stopped is not None and not isinstance(exc, ConfigError):
        return RunResult(
            outcome=Outcome.CANCELLED,
            exit_code=ExitCode.TERMINATED,
            details={"stopped_by": stopped, "error": {"code": exc.code, "message": exc.message}},
        )
    return RunResult(
        outcome=Outcome.ERROR,
        exit_code=exc.exit_code,
        details={"error": {"code": exc.code, "message": exc.message}, "reason": type(exc).__name__},
    )


if __name__ == "__main__":
    sys.exit(main())
