"""Log records: structlog → Cloud Logging's structured JSON on stdout (or text for humans), and the Logging API sink.

Called by the composition root only: ``configure_logging`` first thing, ``LogPipeline.bind_labels`` when the run
learns its job, ``LogPipeline.attach_cloud_logging`` once credentials exist (``LOG_SINK=cloud-logging``),
``log_run_finished`` for the canonical last record and ``LogPipeline.close`` on every exit path; it hands
``LogPipeline.write_external`` to ``logstream``, whose thread prints the job's own log lines through it. Everything else
logs with plain ``structlog.get_logger(__name__)``; stdlib ``logging`` records (libraries) at WARNING and above
are routed through the same pipeline.

Every record passes one chain of small processors: call site → time → compact exception → Cloud Logging shape
(the same fields ``google.cloud.logging_v2.handlers.StructuredLogHandler`` writes, checked field by field in
``tests/test_logs.py``, plus ``time``) → JSON-safe values → redaction → the API sink's buffer → renderer.
``google.cloud.logging_v2`` is imported only inside ``attach_cloud_logging`` (measured: ~0.5–0.9 s, ~45 MB).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import math
import queue
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal, TextIO

import structlog
from structlog.processors import CallsiteParameter, CallsiteParameterAdder
from structlog.typing import EventDict, Processor, WrappedLogger

from vertex_launcher.channels import plaintext_channel
from vertex_launcher.errors import LauncherError
from vertex_launcher.redaction import redact, redact_text

if TYPE_CHECKING:
    import google.auth.credentials

LABELS_KEY = "logging.googleapis.com/labels"
SOURCE_LOCATION_KEY = "logging.googleapis.com/sourceLocation"
#: Fields Cloud Logging lifts out of a structured line; an event's own field of that name is dropped (as the
#: library's StructuredLogHandler does).
RESERVED_FIELDS = frozenset(
    {
        "severity",
        "message",
        "time",
        "timestamp",
        "timestampSeconds",
        "timestampNanos",
        "httpRequest",
        LABELS_KEY,
        SOURCE_LOCATION_KEY,
        "logging.googleapis.com/insertId",
        "logging.googleapis.com/operation",
        "logging.googleapis.com/spanId",
        "logging.googleapis.com/trace",
        "logging.googleapis.com/trace_sampled",
    }
)
#: The field that marks a record as a line of the Vertex job's own log (``logstream``), not the launcher's.
VERTEX_LOG_KEY = "vertex_log"
_NOT_FOR_HUMANS = frozenset({"stack_trace", VERTEX_LOG_KEY})
#: Prefix of every line the sink writes to stderr.
SINK_ERROR_PREFIX = "vertex-launcher: LOG_SINK=cloud-logging:"

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}
_SEVERITY = {
    "debug": "DEBUG",
    "info": "INFO",
    "msg": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "err": "ERROR",
    "exception": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
}

# --- JSON-safe values --------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value reads best
    """``value`` as plain JSON data: datetimes as RFC 3339, enums by value, paths and unknown objects as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseException):
        return _describe_exception(value)
    return str(value)


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with microseconds, e.g. ``2026-01-31T02:00:00.123456Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- processors --------------------------------------------------------------------------------------------------


def _add_time(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    event_dict["time"] = rfc3339_now()
    return event_dict


def _describe_exception(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None:
        text += f" (caused by {type(cause).__name__}: {cause})"
    return text


def _compact_exception(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """``exc_info`` → ``error`` ("Type: message", one line) and the error's API code, never a multi-line traceback.

    Only an error that is not a ``LauncherError`` (a bug) keeps its traceback, as one JSON string field,
    ``stack_trace``, which Error Reporting reads.
    """
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is None or exc_info is False:
        return event_dict
    if isinstance(exc_info, BaseException):
        exc: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    else:
        exc = sys.exc_info()[1]
    if exc is None:
        return event_dict
    event_dict.setdefault("error", _describe_exception(exc))
    code = getattr(exc, "code", None)
    if isinstance(code, str | int) and not isinstance(code, bool) and "error_code" not in event_dict:
        event_dict["error_code"] = code
    if not isinstance(exc, LauncherError):
        event_dict["stack_trace"] = "".join(traceback.format_exception(exc))
    return event_dict


class _CloudShape:
    """The structured-logging shape: severity, time, message, the event's fields, labels, sourceLocation."""

    def __init__(self, pipeline: LogPipeline) -> None:
        self._pipeline = pipeline

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self._pipeline.finished:
            raise structlog.DropEvent  # the result record was the last line; a late record (another thread) is not
        event_dict.pop("_record", None)
        event_dict.pop("_from_structlog", None)
        name = event_dict.pop("_logger_name", None) or getattr(logger, "name", None)
        source = {
            "file": event_dict.pop(CallsiteParameter.PATHNAME.value, None),
            "line": event_dict.pop(CallsiteParameter.LINENO.value, None),
            "function": event_dict.pop(CallsiteParameter.FUNC_NAME.value, None),
        }
        record: EventDict = {
            "severity": _SEVERITY.get(method_name, method_name.upper()),
            "time": event_dict.pop("time", None) or rfc3339_now(),
            "message": event_dict.pop("event", ""),
        }
        record.update((key, value) for key, value in event_dict.items() if key not in RESERVED_FIELDS)
        labels = {"python_logger": name} if name else {}
        record[LABELS_KEY] = {**labels, **self._pipeline.labels}
        record[SOURCE_LOCATION_KEY] = {key: value for key, value in source.items() if value is not None}
        return record


def _safe_and_redacted(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    result: EventDict = redact(jsonable(event_dict))
    return result


class _Capture:
    """Hands the finished record to the pipeline (API sink or its pre-attach buffer)."""

    def __init__(self, pipeline: LogPipeline) -> None:
        self._pipeline = pipeline

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        self._pipeline._capture(event_dict)
        return event_dict


def _render_json(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    return json.dumps(event_dict, ensure_ascii=False, separators=(",", ":"))


class _RenderConsole:
    """The same record for humans: ``time [level] message key=value …``; a traceback below, if any."""

    def __init__(self, colors: bool) -> None:
        self._renderer = structlog.dev.ConsoleRenderer(colors=colors, sort_keys=False, pad_event_to=40)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        fields = {k: v for k, v in event_dict.items() if k not in RESERVED_FIELDS and k not in _NOT_FOR_HUMANS}
        event = event_dict["message"]
        if isinstance(vertex_log := event_dict.get(VERTEX_LOG_KEY), Mapping):  # a line of the job: say whose
            pipeline = "pipeline" if "PipelineJob" in str(vertex_log.get("resource_type")) else "job"
            event = f"[{vertex_log.get('pipeline_task') or vertex_log.get('task') or pipeline}] {event}"
        human: EventDict = {
            "timestamp": event_dict["time"],
            "level": str(event_dict["severity"]).lower(),
            "event": event,
            **fields,
        }
        if "stack_trace" in event_dict:
            human["exception"] = event_dict["stack_trace"]
        return str(self._renderer(logger, method_name, human))


# --- output ------------------------------------------------------------------------------------------------------


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's ``WriteLogger`` that remembers the name given to ``get_logger`` (the ``python_logger`` label)."""

    def __init__(self, name: str | None, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    """Writes to the injected stream, or to whatever ``sys.stdout`` is at the time (so test capture works)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return _NamedWriteLogger(name, self._stream or sys.stdout)


_STDLIB_METHODS = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
    (-1, "debug"),
)


class _StdlibBridge(logging.Handler):
    """Sends records of stdlib ``logging`` (google-auth, grpc, warnings) through the structlog pipeline."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            method = next(name for floor, name in _STDLIB_METHODS if record.levelno >= floor)
            logger = structlog.get_logger(record.name)
            getattr(logger, method)(
                record.getMessage(),
                exc_info=record.exc_info or None,
                _record=record,
                _logger_name=record.name,
            )
        except Exception:  # a log call must never break the run
            self.handleError(record)


# --- the Cloud Logging API sink ---------------------------------------------------------------------------------


class _SinkWorker:
    """One background thread that writes queued records in batches; ``close`` drains it within a time limit.

    After a write fails (its retries included) the sink stops trying: it says so once on stderr and drops later
    records, so a dead endpoint costs the run one retry budget, not one per record.
    """

    def __init__(self, write: Callable[[list[Mapping[str, Any]]], None], *, where: str, batch_size: int = 50) -> None:
        self._write = write
        self._where = where
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self.sent = 0
        self.dropped = 0
        self.failure: str | None = None
        self.thread = threading.Thread(target=self._run, name="vertex-launcher-cloud-logging", daemon=True)
        self.thread.start()

    def submit(self, record: Mapping[str, Any]) -> None:
        """Queue one finished record."""
        self._queue.put(record)

    def close(self, timeout: float) -> bool:
        """Write what is queued, waiting at most ``timeout`` seconds; True when everything queued was handled."""
        self._queue.put(None)
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Mapping[str, Any]] = []
            while item is not None:
                batch.append(item)
                if len(batch) >= self._batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write_batch(batch)
            if item is None:
                return

    def _write_batch(self, batch: list[Mapping[str, Any]]) -> None:
        if self.failure is not None:
            self.dropped += len(batch)
            return
        try:
            self._write(batch)
        except Exception as exc:  # any failure of the sink must stay the sink's
            self.dropped += len(batch)
            first_line = (str(exc).strip().splitlines() or [""])[0]
            self.failure = redact_text(f"{type(exc).__name__}: {first_line}"[:500])
            _warn(f"could not write {len(batch)} record(s) to {self._where}: {self.failure}; stdout only from now on")
        else:
            self.sent += len(batch)


def _warn(text: str) -> None:
    with contextlib.suppress(Exception):  # stderr itself is gone: nothing left to tell
        print(f"{SINK_ERROR_PREFIX} {text}", file=sys.stderr, flush=True)


def _cloud_logging_writer(
    *,
    credentials: google.auth.credentials.Credentials,
    project: str,
    endpoint: str | None,
    insecure: bool,
    log_name: str,
    resource: Mapping[str, Any],
    request_timeout: float,
    retry_seconds: float,
) -> tuple[Callable[[list[Mapping[str, Any]]], None], Callable[[], None]]:
    """``write(records)`` and ``close()`` over google-cloud-logging's ``LoggingServiceV2Client`` (gRPC)."""
    from urllib.parse import quote

    from google.api_core import exceptions as api_exceptions
    from google.api_core import retry as api_retry
    from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
    from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
    from google.cloud.logging_v2.types import LogEntry, LogEntrySourceLocation, WriteLogEntriesRequest

    host = endpoint or "logging.googleapis.com"
    if insecure:
        transport = LoggingServiceV2GrpcTransport(channel=plaintext_channel(host, credentials))
        client = LoggingServiceV2Client(transport=transport)
    else:
        client = LoggingServiceV2Client(credentials=credentials, client_options={"api_endpoint": host})
    full_name = f"projects/{project}/logs/{quote(log_name, safe='')}"
    retry = api_retry.Retry(
        initial=0.2,
        maximum=5.0,
        multiplier=2.0,
        timeout=retry_seconds,
        predicate=api_retry.if_exception_type(
            api_exceptions.ServiceUnavailable,
            api_exceptions.DeadlineExceeded,
            api_exceptions.InternalServerError,
            api_exceptions.TooManyRequests,
        ),
    )
    resource_value = {"type": resource["type"], "labels": dict(resource.get("labels") or {})}

    def entry(record: Mapping[str, Any]) -> LogEntry:
        payload = {k: v for k, v in record.items() if k not in RESERVED_FIELDS or k == "message"}
        source = record.get(SOURCE_LOCATION_KEY) or {}
        return LogEntry(
            severity=record.get("severity", "DEFAULT"),
            timestamp=datetime.fromisoformat(record["time"]) if record.get("time") else None,
            labels=record.get(LABELS_KEY) or {},
            json_payload=payload,
            source_location=LogEntrySourceLocation(
                file=source.get("file", ""), line=int(source.get("line") or 0), function=source.get("function", "")
            ),
        )

    def write(records: list[Mapping[str, Any]]) -> None:
        request = WriteLogEntriesRequest(
            log_name=full_name, resource=resource_value, entries=[entry(r) for r in records], partial_success=True
        )
        client.write_log_entries(request=request, retry=retry, timeout=request_timeout)

    return write, client.transport.close


def monitored_resource(
    *,
    project: str,
    namespace: str | None = None,
    pod_name: str | None = None,
    container_name: str | None = None,
    cluster_name: str | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    """The Cloud Logging resource of API-written entries: ``k8s_container`` if namespace and pod are known.

    The pod name is the pod's ``HOSTNAME``; without namespace or pod the resource is ``global``.
    """
    if namespace and pod_name:
        return {
            "type": "k8s_container",
            "labels": {
                "project_id": project,
                "location": location or "",
                "cluster_name": cluster_name or "",
                "namespace_name": namespace,
                "pod_name": pod_name,
                "container_name": container_name or "",
            },
        }
    return {"type": "global", "labels": {"project_id": project}}


# --- the pipeline ------------------------------------------------------------------------------------------------


class LogPipeline:
    """The configured logging of this process: labels on every record, and the optional Logging API sink."""

    def __init__(self, *, labels: Mapping[str, str], buffer_limit: int) -> None:
        self._labels: dict[str, str] = {str(k): str(v) for k, v in labels.items()}
        self._buffer: deque[Mapping[str, Any]] | None = deque(maxlen=buffer_limit) if buffer_limit > 0 else None
        self._sink: _SinkWorker | None = None
        self._close_sink: Callable[[], None] = lambda: None
        self._close_timeout = 5.0
        self._lock = threading.Lock()
        self._closed = False
        #: Set once the result record is logged: later records are dropped, so it stays the last line.
        self.finished = False
        self.stdlib_handler: logging.Handler | None = None
        self.google_propagate = True
        self._stream: TextIO | None = None
        self._renderer: Processor = _render_json

    @property
    def labels(self) -> dict[str, str]:
        """The labels every record carries now (a copy)."""
        return dict(self._labels)

    def bind_labels(self, **labels: str) -> None:
        """Adds/overrides entries of logging.googleapis.com/labels for all later records (e.g. job=<resource name>)."""
        self._labels = {**self._labels, **{k: str(v) for k, v in labels.items()}}

    def attach_cloud_logging(
        self,
        *,
        credentials: google.auth.credentials.Credentials,
        project: str,
        endpoint: str | None,
        insecure: bool,
        log_name: str = "vertex-launcher",
        resource: dict[str, Any] | None = None,
        close_timeout: float = 5.0,
        request_timeout: float = 10.0,
        retry_seconds: float = 30.0,
    ) -> None:
        """LOG_SINK=cloud-logging: from now on also write every record through the Logging API.

        Records logged before this call (config loaded, identity) are sent too. Never raises; a sink failure is
        reported on stderr and never changes the run's outcome.

        ``endpoint`` is the gRPC ``host:port`` (default ``logging.googleapis.com``, TLS); ``insecure`` means
        plaintext gRPC that still carries the bearer token. ``resource`` defaults to ``global`` (see
        ``monitored_resource``). ``close_timeout`` bounds the flush in ``close``; ``retry_seconds`` bounds the
        retries of one write on UNAVAILABLE/DEADLINE_EXCEEDED/INTERNAL/RESOURCE_EXHAUSTED.
        """
        where = f"projects/{project}/logs/{log_name} at {endpoint or 'logging.googleapis.com'}"
        try:
            with self._lock:
                if self._closed or self._sink is not None:
                    _warn("the sink is already attached or closed; ignoring a second attach")
                    return
            write, close = _cloud_logging_writer(
                credentials=credentials,
                project=project,
                endpoint=endpoint,
                insecure=insecure,
                log_name=log_name,
                resource=resource or monitored_resource(project=project),
                request_timeout=request_timeout,
                retry_seconds=retry_seconds,
            )
            sink = _SinkWorker(write, where=where)
            with self._lock:
                for record in self._buffer or ():
                    sink.submit(record)
                self._buffer = None
                self._sink, self._close_sink, self._close_timeout = sink, close, close_timeout
        except Exception as exc:  # the sink is best effort by contract
            _warn(f"could not start writing to {where}: {redact_text(f'{type(exc).__name__}: {exc}')}")

    def close(self) -> None:
        """Flush and close the API sink (called on every exit path, SIGTERM included). Never raises."""
        try:
            with self._lock:
                sink, self._sink, self._buffer, self._closed = self._sink, None, None, True
            if sink is None:
                return
            finished = sink.close(self._close_timeout)
            if not finished:
                _warn(f"gave up after {self._close_timeout:g} s; the last records may not have reached Cloud Logging")
            elif sink.dropped:
                _warn(f"{sink.dropped} record(s) were not written ({sink.failure})")
            self._close_sink()
        except Exception as exc:  # close runs on exit paths: never make them worse
            _warn(f"error while closing: {type(exc).__name__}")

    def write_external(self, record: Mapping[str, Any]) -> None:
        """Print a record that is not the launcher's own: a line of the Vertex job's log (``logstream``).

        ``record`` holds ``severity``, ``time``, ``message`` and its own fields; the labels of every record are
        added, it is redacted like every record, rendered in ``LOG_FORMAT``, and written by the same writer and
        under the same lock as structlog's lines (one ``write`` per line: never interleaved). It is not sent to
        the Logging API sink: the job's entries are in Cloud Logging already. Safe from any thread.
        """
        if self.finished:
            return  # the result record was the last line (the exit watchdog may have written it)
        shaped = {**record, LABELS_KEY: self.labels}
        line = self._renderer(None, "msg", redact(jsonable(shaped)))
        structlog.WriteLogger(self._stream or sys.stdout).msg(str(line))

    def take_buffer(self) -> list[Mapping[str, Any]]:
        """Remove and return the records kept for a sink that was never attached."""
        with self._lock:
            records, self._buffer = list(self._buffer or ()), None
        return records

    def _capture(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            if self._sink is not None:
                if threading.current_thread() is not self._sink.thread:  # the sink's own troubles stay local
                    self._sink.submit(record)
            elif self._buffer is not None:
                self._buffer.append(record)


_active: LogPipeline | None = None


def configure_logging(
    *,
    fmt: Literal["json", "console"],
    level: str,
    labels: Mapping[str, str],
    stream: TextIO | None = None,
    buffer_limit: int = 1000,
) -> LogPipeline:
    """Configure structlog globally; called once, first thing in the composition root.

    Called before settings are even valid: on a config error it is called with defaults fmt="json", level="INFO".

    ``stream`` defaults to ``sys.stdout`` at write time. Up to ``buffer_limit`` records are kept until
    ``attach_cloud_logging`` (0: keep none, for ``LOG_SINK=stdout``); calling it again (defaults first, then the
    settings' values) closes the previous pipeline and carries its kept records over.
    """
    global _active  # noqa: PLW0603 - structlog's configuration is process-global too
    threshold = _LEVELS.get(level.strip().upper())
    if threshold is None:
        msg = f"log level {level!r} is not one of {', '.join(_LEVELS)}"
        raise ValueError(msg)
    if fmt not in ("json", "console"):
        msg = f"log format {fmt!r} is not json or console"
        raise ValueError(msg)
    carried = _active.take_buffer() if _active is not None else []
    reset_logging()
    pipeline = LogPipeline(labels=labels, buffer_limit=buffer_limit)
    for record in carried:  # a reconfiguration (defaults → settings) keeps what the sink has not seen yet
        pipeline._capture(record)
    target = stream or sys.stdout
    renderer: Processor = _render_json
    if fmt == "console":
        renderer = _RenderConsole(colors=bool(getattr(target, "isatty", lambda: False)()))
    processors: list[Processor] = [
        CallsiteParameterAdder(
            [CallsiteParameter.PATHNAME, CallsiteParameter.LINENO, CallsiteParameter.FUNC_NAME],
            additional_ignores=[__name__],
        ),
        _add_time,
        _compact_exception,
        _CloudShape(pipeline),
        _safe_and_redacted,
        _Capture(pipeline),
        renderer,
    ]
    pipeline._stream, pipeline._renderer = stream, renderer
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=_LoggerFactory(stream),
        context_class=dict,
        cache_logger_on_first_use=False,
    )
    bridge = _StdlibBridge(level=logging.WARNING)
    logging.getLogger().addHandler(bridge)
    # google-auth and google-api-core stop the "google" logger from propagating to the root the first time they
    # log, unless it is configured already: configure it, with the same bridge.
    google = logging.getLogger("google")
    google.addHandler(bridge)
    pipeline.google_propagate, google.propagate = google.propagate, False
    logging.captureWarnings(True)
    pipeline.stdlib_handler = bridge
    _active = pipeline
    return pipeline


def reset_logging() -> None:
    """Undo ``configure_logging``: close its sink, unhook stdlib logging, restore structlog's defaults (tests)."""
    global _active  # noqa: PLW0603 - see configure_logging
    if _active is not None:
        _active.close()
        if _active.stdlib_handler is not None:
            logging.getLogger().removeHandler(_active.stdlib_handler)
            logging.getLogger("google").removeHandler(_active.stdlib_handler)
            logging.getLogger("google").propagate = _active.google_propagate
        logging.captureWarnings(False)
        structlog.reset_defaults()
        _active = None


def log_run_finished(record: Mapping[str, Any]) -> dict[str, Any]:
    """Log the canonical result (``RunResult.record(...)``) as the run's last record; return it as logged.

    The return value is ``{"message": "run finished", **record}``, JSON-safe and redacted: the termination message.

    Severity follows the exit code: 0 → INFO, 143 (stopped by a signal) → WARNING, anything else → ERROR.
    """
    logged: dict[str, Any] = redact(jsonable({"message": "run finished", **record}))
    fields = {k: v for k, v in logged.items() if k != "message"}
    exit_code = fields.get("exit_code")
    method = "info" if exit_code == 0 else "warning" if exit_code == 143 else "error"
    getattr(structlog.get_logger(__name__), method)("run finished", **fields)
    if _active is not None:
        _active.finished = True
    return logged
