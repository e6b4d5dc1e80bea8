"""Log records: Cloud Logging's structured JSON on stdout, the console rendering, redaction, and the API sink.

The API-sink tests run google-cloud-logging's real GAPIC client against ``FakeLogging`` (a local
``LoggingServiceV2.WriteLogEntries``) and check what it receives. Nothing here mocks the launcher's own code.
"""

from __future__ import annotations

import enum
import functools
import inspect
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from google.oauth2.credentials import Credentials

from tests.fixtures.fake_logging import FakeLogging, self_signed_certificate
from vertex_launcher.errors import ConfigError, TransientApiError
from vertex_launcher.logs import (
    LABELS_KEY,
    SINK_ERROR_PREFIX,
    SOURCE_LOCATION_KEY,
    LogPipeline,
    configure_logging,
    log_run_finished,
    monitored_resource,
    reset_logging,
)
from vertex_launcher.redaction import REDACTED, redact, redact_text

TOKEN = "ya29.a0AfB_byC-secret-access-token-0123456789"
LABELS = {"run_key": "7d0c2b9e", "schedule": "nightly-train", "namespace": "ml"}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

log = structlog.get_logger("vertex_launcher.watch")


@pytest.fixture(name="out")
def _out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    reset_logging()


@pytest.fixture(name="pipeline")
def _pipeline(out: io.StringIO) -> LogPipeline:
    return configure_logging(fmt="json", level="DEBUG", labels=LABELS, stream=out)


@pytest.fixture(name="fake_logging")
def _fake_logging() -> Iterator[FakeLogging]:
    fake = FakeLogging().start()
    yield fake
    fake.stop()


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Every line written so far, each parsed as one JSON object."""
    return [json.loads(line) for line in out.getvalue().splitlines()]


def token_credentials() -> Credentials:
    """google-auth user credentials holding a ready access token (no refresh, no network)."""
    return Credentials(token=TOKEN)  # type: ignore[no-untyped-call]


def attach(pipeline: LogPipeline, fake: FakeLogging, **kwargs: Any) -> None:
    """The API sink toward the fake, plaintext gRPC with a bearer token."""
    pipeline.attach_cloud_logging(
        credentials=token_credentials(), project="demo-project", endpoint=fake.target, insecure=True, **kwargs
    )


def fail(error: BaseException) -> None:
    """Raise ``error`` (so the test's except block has a live exception to log)."""
    raise error


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- JSON on stdout -------------------------------------------------------------------------------------------------


def test_every_line_is_one_json_object_in_cloud_loggings_structured_format(
    pipeline: LogPipeline, out: io.StringIO
) -> None:
    """severity, message, time, labels and sourceLocation, with the event's own fields at top level."""
    log.info("job submitted", job="projects/p/locations/us-central1/customJobs/1", console_url="https://c")
    log.warning("transient API error, retrying", error_code="UNAVAILABLE", retry_in_seconds=7.5)

    first, second = lines(out)
    assert first["severity"] == "INFO"
    assert first["message"] == "job submitted"
    assert RFC3339_UTC.match(first["time"])
    assert first["job"] == "projects/p/locations/us-central1/customJobs/1"
    assert first["console_url"] == "https://c"
    assert first[LABELS_KEY] == {"python_logger": "vertex_launcher.watch", **LABELS}
    assert set(first[SOURCE_LOCATION_KEY]) == {"file", "line", "function"}
    assert second["severity"] == "WARNING"
    assert second["retry_in_seconds"] == 7.5
    assert "event" not in first
    assert "level" not in first


@pytest.mark.parametrize(
    ("method", "severity"),
    [("debug", "DEBUG"), ("info", "INFO"), ("warning", "WARNING"), ("error", "ERROR"), ("critical", "CRITICAL")],
)
def test_severity_follows_the_logging_method(
    pipeline: LogPipeline, out: io.StringIO, method: str, severity: str
) -> None:
    """Each structlog method maps to the Cloud Logging severity of the same name."""
    getattr(log, method)("something happened")

    assert lines(out)[0]["severity"] == severity


def test_records_below_the_configured_level_are_not_written(out: io.StringIO) -> None:
    """LOG_LEVEL=WARNING drops debug and info records."""
    configure_logging(fmt="json", level="WARNING", labels={}, stream=out)

    log.debug("hidden")
    log.info("hidden too")
    log.warning("shown")

    assert [line["message"] for line in lines(out)] == ["shown"]


def test_time_is_rfc3339_utc_with_fractional_seconds(pipeline: LogPipeline, out: io.StringIO) -> None:
    """``time`` parses as an aware UTC datetime close to now."""
    before = datetime.now(UTC)
    log.info("tick")

    stamp = datetime.fromisoformat(lines(out)[0]["time"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert before <= stamp <= datetime.now(UTC)


def test_source_location_points_at_the_application_call_site(pipeline: LogPipeline, out: io.StringIO) -> None:
    """file, line and function of the ``log.info`` call, not of structlog's or the pipeline's internals."""
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    log.info("where am I")

    assert lines(out)[0][SOURCE_LOCATION_KEY] == {
        "file": __file__,
        "line": line,
        "function": "test_source_location_points_at_the_application_call_site",
    }


def test_bound_labels_are_added_to_every_later_record(pipeline: LogPipeline, out: io.StringIO) -> None:
    """bind_labels adds (and overrides) labels from then on; earlier records keep what they had."""
    log.info("before")
    pipeline.bind_labels(job="projects/p/locations/r/customJobs/9")
    log.info("after")
    pipeline.bind_labels(schedule="renamed")
    log.info("later")

    before, after, later = (line[LABELS_KEY] for line in lines(out))
    assert "job" not in before
    assert after["job"] == "projects/p/locations/r/customJobs/9"
    assert later["schedule"] == "renamed"
    assert later["run_key"] == LABELS["run_key"]


def test_values_json_cannot_hold_are_written_as_text(pipeline: LogPipeline, out: io.StringIO) -> None:
    """Datetimes become RFC 3339, enums their value, paths and other objects their text."""

    class Color(enum.Enum):
        RED = "red"

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    log.info(
        "odd values",
        created=datetime(2026, 1, 31, 2, 0, tzinfo=UTC),
        color=Color.RED,
        spec=Path("/etc/spec.yaml"),
        problem=ValueError("bad input"),
        thing=Thing(),
        ratio=float("nan"),
        nested={"at": (1, 2)},
    )

    line = lines(out)[0]
    assert line["created"] == "2026-01-31T02:00:00Z"
    assert line["color"] == "red"
    assert line["spec"] == "/etc/spec.yaml"
    assert line["problem"] == "ValueError: bad input"
    assert line["thing"] == "a thing"
    assert line["ratio"] == "nan"
    assert line["nested"] == {"at": [1, 2]}


def test_an_event_field_cannot_replace_a_cloud_logging_field(pipeline: LogPipeline, out: io.StringIO) -> None:
    """A field named like a special field (severity, time, labels) is dropped, as StructuredLogHandler does."""
    log.info("sneaky", severity="DEBUG", time="yesterday", **{LABELS_KEY: {"run_key": "other"}})

    line = lines(out)[0]
    assert line["severity"] == "INFO"
    assert RFC3339_UTC.match(line["time"])
    assert line[LABELS_KEY]["run_key"] == LABELS["run_key"]


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error"])
def test_output_equals_what_structured_log_handler_writes_for_the_same_record(
    pipeline: LogPipeline, out: io.StringIO, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Field by field against google-cloud-logging's StructuredLogHandler; the only differences are documented:
    we add ``time`` and leave out the request-tracing fields, which the handler writes empty for a batch job."""
    import google.cloud.logging_v2
    from google.cloud.logging_v2.handlers import StructuredLogHandler

    monkeypatch.setattr(google.cloud.logging_v2, "_instrumentation_emitted", True)  # no diagnostic line first
    theirs = io.StringIO()
    stdlib_logger = logging.getLogger("vertex_launcher.watch")
    handler = StructuredLogHandler(labels=LABELS, stream=theirs, project_id="demo-project")  # type: ignore[no-untyped-call]
    stdlib_logger.addHandler(handler)
    monkeypatch.setattr(stdlib_logger, "propagate", False)
    monkeypatch.setattr(stdlib_logger, "level", logging.DEBUG)
    fields = {"job": "projects/p/locations/r/customJobs/1", "exit_code": 0, "duration_seconds": 12.5, "ok": True}
    try:
        calls = (
            functools.partial(getattr(stdlib_logger, method), {"message": "run finished", **fields}),
            functools.partial(getattr(log, method), "run finished", **fields),
        )
        for call in calls:  # one source line for both
            call()
    finally:
        stdlib_logger.removeHandler(handler)

    ours = lines(out)[0]
    reference = json.loads(theirs.getvalue())
    assert set(ours) - set(reference) == {"time"}
    assert set(reference) - set(ours) == {
        "logging.googleapis.com/trace",
        "logging.googleapis.com/spanId",
        "logging.googleapis.com/trace_sampled",
        "httpRequest",
    }
    assert reference["logging.googleapis.com/trace"] == ""
    assert reference["logging.googleapis.com/spanId"] == ""
    assert reference["logging.googleapis.com/trace_sampled"] is False
    assert reference["httpRequest"] == {}
    for key in set(ours) & set(reference):
        assert ours[key] == reference[key], key


# --- exceptions ----------------------------------------------------------------------------------------------------


def test_an_expected_error_is_one_compact_field_with_its_api_code(pipeline: LogPipeline, out: io.StringIO) -> None:
    """A LauncherError renders as ``error`` ("Type: message") plus ``error_code``; no traceback, one line."""
    try:
        fail(TransientApiError("Vertex answered 503", code="UNAVAILABLE"))
    except TransientApiError:
        log.exception("giving up")

    assert len(out.getvalue().splitlines()) == 1
    line = lines(out)[0]
    assert line["severity"] == "ERROR"
    assert line["error"] == "TransientApiError: Vertex answered 503"
    assert line["error_code"] == "UNAVAILABLE"
    assert "stack_trace" not in line
    assert "exc_info" not in line


def test_an_error_names_its_cause(pipeline: LogPipeline, out: io.StringIO) -> None:
    """A chained cause is named in the same compact field."""
    try:
        try:
            json.loads("{")
        except ValueError as exc:
            raise ConfigError("VERTEX_LAUNCHER_ENV: not valid JSON") from exc
    except ConfigError as exc:
        log.error("configuration error", exc_info=exc)

    assert lines(out)[0]["error"].startswith(
        "ConfigError: VERTEX_LAUNCHER_ENV: not valid JSON (caused by JSONDecodeError: Expecting"
    )


def test_an_unexpected_error_keeps_its_traceback_inside_one_json_field(pipeline: LogPipeline, out: io.StringIO) -> None:
    """A bug's traceback goes into ``stack_trace`` (read by Error Reporting) and the line stays one line."""
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        log.exception("unexpected error")

    assert len(out.getvalue().splitlines()) == 1
    line = lines(out)[0]
    assert line["error"] == "ZeroDivisionError: division by zero"
    assert line["stack_trace"].startswith("Traceback (most recent call last):")


# --- console -------------------------------------------------------------------------------------------------------


def test_console_format_is_one_readable_line_per_event_without_colour(out: io.StringIO) -> None:
    """LOG_FORMAT=console: time, level, message and key=value fields; no JSON, no escape codes on a non-tty."""
    configure_logging(fmt="console", level="INFO", labels=LABELS, stream=out)

    log.info("job submitted", job="projects/p/locations/r/customJobs/1", state="JOB_STATE_PENDING")
    log.warning("cancel requested", job="projects/p/locations/r/customJobs/1")

    first, second = out.getvalue().splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\S+Z \[info\s*\] job submitted\s+job=projects/p/", first)
    assert "state=JOB_STATE_PENDING" in first
    assert "[warning" in second
    assert "\x1b[" not in out.getvalue()
    assert "logging.googleapis.com" not in out.getvalue()


def test_console_format_shows_an_unexpected_traceback_below_its_line(out: io.StringIO) -> None:
    """Humans get the traceback of a bug as text; an expected error stays on its line."""
    configure_logging(fmt="console", level="INFO", labels={}, stream=out)
    try:
        fail(ConfigError("VERTEX_LAUNCHER_REGION: is required"))
    except ConfigError:
        log.exception("configuration error")
    try:
        _ = dict[str, int]()["missing"]
    except KeyError:
        log.exception("unexpected error")

    text = out.getvalue().splitlines()
    assert "error='ConfigError: VERTEX_LAUNCHER_REGION: is required'" in text[0]
    assert "unexpected error" in text[1]
    assert "Traceback (most recent call last):" in text[2:]


# --- redaction -----------------------------------------------------------------------------------------------------


def test_values_of_secret_looking_keys_are_redacted(pipeline: LogPipeline, out: io.StringIO) -> None:
    """token, secret, password, private_key, credentials, authorization, api keys — at any depth and casing."""
    log.info(
        "config loaded",
        token="abc",
        client_secret="def",
        password="hunter2",
        private_key="-----BEGIN…",
        credentials={"type": "service_account"},
        authorization="Basic Zm9vOmJhcg==",
        env={"HF_TOKEN": "hf_abc", "LOG_LEVEL": "debug"},
        headers=[{"accessToken": "xyz"}],
        credentials_wait_seconds=30.0,
    )

    line = lines(out)[0]
    for key in ("token", "client_secret", "password", "private_key", "credentials", "authorization"):
        assert line[key] == REDACTED, key
    assert line["env"] == {"HF_TOKEN": REDACTED, "LOG_LEVEL": "debug"}
    assert line["headers"] == [{"accessToken": REDACTED}]
    assert line["credentials_wait_seconds"] == 30.0


def test_tokens_inside_any_text_are_redacted(pipeline: LogPipeline, out: io.StringIO) -> None:
    """Bearer tokens, ya29. access tokens, JWTs, private keys and password=… are cut out of messages and fields."""
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    log.warning(
        f"refresh failed for {TOKEN}",
        header=f"Authorization: Bearer {TOKEN}",
        args=["--password=hunter2", "--epochs=3"],
        note=f"id token {jwt} expired",
        key_file="-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n",
    )

    text = out.getvalue()
    line = lines(out)[0]
    assert TOKEN not in text
    assert jwt not in text
    assert "hunter2" not in text
    assert "MIIEv" not in text
    assert line["message"] == f"refresh failed for {REDACTED}"
    assert line["header"] == f"Authorization: Bearer {REDACTED}"
    assert line["args"] == [f"--password={REDACTED}", "--epochs=3"]


def test_an_exception_message_carrying_a_token_is_redacted(pipeline: LogPipeline, out: io.StringIO) -> None:
    """The compact error field and the stack trace go through redaction too."""
    try:
        fail(RuntimeError(f"401 for Bearer {TOKEN}"))
    except RuntimeError:
        log.exception("unexpected error")

    assert TOKEN not in out.getvalue()
    assert lines(out)[0]["error"] == f"RuntimeError: 401 for Bearer {REDACTED}"


def test_a_long_run_of_word_characters_is_redacted_in_linear_time() -> None:
    """A 16,000-character line without spaces (a job's base64 blob) costs milliseconds, not seconds.

    The key=value pattern once scanned such a run from every position (quadratic: ~12 s for 16,000 characters);
    job log lines (STREAM_LOGS) pass through redaction on the reader thread, beside the watch loop.
    """
    started = time.perf_counter()
    assert redact_text("x" * 16_000) == "x" * 16_000
    assert redact_text("a_b-" * 4_000 + " api_key=s3cr3t").endswith(f"api_key={REDACTED}")
    assert time.perf_counter() - started < 1.0


def test_names_that_only_resemble_secrets_are_kept() -> None:
    """credential_source, tokenizer, principal and token counts are not secrets."""
    values = {"credential_source": "gke-metadata", "tokenizer": "bpe", "principal": "sa@p.iam", "max_tokens": 512}

    assert redact(values) == values


# --- stdlib logging --------------------------------------------------------------------------------------------------


def test_records_of_stdlib_logging_libraries_go_through_the_same_pipeline(
    pipeline: LogPipeline, out: io.StringIO
) -> None:
    """A library's WARNING via ``logging`` comes out as a JSON line with its logger name and call site."""
    line_no = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    logging.getLogger("google.auth._default").warning("No project ID could be determined for %s", "adc")
    logging.getLogger("google.auth._default").info("below the bridge's threshold")

    (line,) = lines(out)
    assert line["severity"] == "WARNING"
    assert line["message"] == "No project ID could be determined for adc"
    assert line[LABELS_KEY]["python_logger"] == "google.auth._default"
    assert line[SOURCE_LOCATION_KEY]["line"] == line_no


def test_google_libraries_cannot_cut_their_records_off_from_the_pipeline(
    pipeline: LogPipeline, out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth's first log call stops an unconfigured "google" logger from propagating; ours is configured."""
    import google.auth._helpers

    monkeypatch.setattr(google.auth._helpers, "_LOGGING_INITIALIZED", False)
    google.auth._helpers.is_logging_enabled(logging.getLogger("google.auth.transport"))
    logging.getLogger("google.auth.transport").warning("metadata server slow")

    assert [line["message"] for line in lines(out)] == ["metadata server slow"]


# --- the canonical result ------------------------------------------------------------------------------------------


def test_the_run_finished_record_is_returned_exactly_as_logged(pipeline: LogPipeline, out: io.StringIO) -> None:
    """log_run_finished returns the record as written (for the termination message), redaction included."""
    record = {
        "outcome": "failed",
        "job": "projects/p/locations/r/customJobs/1",
        "state": "JOB_STATE_FAILED",
        "exit_code": 1,
        "duration_seconds": 61.25,
        "console_url": "https://console.cloud.google.com/vertex-ai/…",
        "error_message": f"container exited 1: Bearer {TOKEN}",
        "end_time": datetime(2026, 1, 31, 2, 1, tzinfo=UTC),
    }

    returned = log_run_finished(record)

    line = lines(out)[-1]
    assert line["message"] == "run finished"
    assert {k: v for k, v in line.items() if k not in ("severity", "time", LABELS_KEY, SOURCE_LOCATION_KEY)} == returned
    assert returned["end_time"] == "2026-01-31T02:01:00Z"
    assert TOKEN not in json.dumps(returned)
    assert line[SOURCE_LOCATION_KEY]["file"] == __file__


@pytest.mark.parametrize(("exit_code", "severity"), [(0, "INFO"), (143, "WARNING"), (1, "ERROR"), (4, "ERROR")])
def test_the_run_finished_severity_follows_the_exit_code(
    pipeline: LogPipeline, out: io.StringIO, exit_code: int, severity: str
) -> None:
    """Success is INFO, a stop by signal WARNING, every other non-zero exit ERROR."""
    log_run_finished({"outcome": "x", "exit_code": exit_code, "duration_seconds": 1.0})

    assert lines(out)[-1]["severity"] == severity


# --- configuration -------------------------------------------------------------------------------------------------


def test_an_unknown_level_or_format_is_refused(out: io.StringIO) -> None:
    """A bad level or format is a ValueError naming the value."""
    with pytest.raises(ValueError, match="'LOUD'"):
        configure_logging(fmt="json", level="LOUD", labels={}, stream=out)
    with pytest.raises(ValueError, match="'xml'"):
        configure_logging(fmt="xml", level="INFO", labels={}, stream=out)  # type: ignore[arg-type]


def test_logging_to_stdout_does_not_import_the_cloud_logging_library() -> None:
    """configure_logging plus records on stdout leave google.cloud.logging_v2 and grpc unimported."""
    script = textwrap.dedent(
        """
        import json, sys
        import structlog
        from vertex_launcher.logs import configure_logging
        pipeline = configure_logging(fmt="json", level="INFO", labels={"run_key": "k"})
        structlog.get_logger("x").info("hello")
        pipeline.close()
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("google.cloud.logging", "grpc")))))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)

    *records, loaded = result.stdout.splitlines()
    assert json.loads(records[0])["message"] == "hello"
    assert json.loads(loaded) == []


# --- lines of the job (STREAM_LOGS) -----------------------------------------------------------------------------

JOB_LINE = {
    "severity": "WARNING",
    "time": "2026-01-31T02:07:13.201000Z",
    "message": "step 7: clipping",
    "vertex_log": {"timestamp": "2026-01-31T02:07:13.201000Z", "insert_id": "8f2c", "task": "workerpool0-0"},
}


def test_a_job_line_is_one_structured_record_with_the_runs_labels(pipeline: LogPipeline, out: io.StringIO) -> None:
    """write_external: the job's severity, time and message, its vertex_log, the run's labels; redacted."""
    pipeline.bind_labels(job="projects/p/locations/r/customJobs/1")
    pipeline.write_external({**JOB_LINE, "message": f"token is Bearer {TOKEN}"})
    [line] = lines(out)
    assert (line["severity"], line["time"], line["vertex_log"]) == ("WARNING", JOB_LINE["time"], JOB_LINE["vertex_log"])
    assert line["logging.googleapis.com/labels"] == {**LABELS, "job": "projects/p/locations/r/customJobs/1"}
    assert TOKEN not in out.getvalue()


def test_job_lines_and_launcher_records_never_interleave_mid_line(pipeline: LogPipeline, out: io.StringIO) -> None:
    """Four threads writing job lines and launcher records at once: every line is one whole JSON object."""

    def job_lines() -> None:
        for _ in range(300):
            pipeline.write_external({**JOB_LINE, "message": "x" * 2000})

    def records() -> None:
        for _ in range(300):
            log.info("job still in state", padding="y" * 2000)

    threads = [threading.Thread(target=target) for target in (job_lines, records, job_lines, records)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = lines(out)
    assert len(written) == 1200
    assert sum("vertex_log" in line for line in written) == 600


def test_job_lines_are_not_sent_through_the_api_sink(out: io.StringIO) -> None:
    """The job's entries are in Cloud Logging already: only the launcher's records are kept for the sink."""
    pipeline = configure_logging(fmt="json", level="INFO", labels=LABELS, stream=out, buffer_limit=10)
    pipeline.write_external(JOB_LINE)
    log.info("job submitted")
    assert [record["message"] for record in pipeline.take_buffer()] == ["job submitted"]


def test_a_job_line_in_console_format_names_its_replica_or_task(out: io.StringIO) -> None:
    """LOG_FORMAT=console: `time [level] [workerpool0-0] message`, the pipeline task when there is one."""
    pipeline = configure_logging(fmt="console", level="INFO", labels=LABELS, stream=out)
    pipeline.write_external(JOB_LINE)
    pipeline.write_external({**JOB_LINE, "vertex_log": {**JOB_LINE["vertex_log"], "pipeline_task": "train"}})  # type: ignore[dict-item]
    first, second = out.getvalue().splitlines()
    assert re.match(r"^2026-01-31T02:07:13.201000Z \[warning\s*\] \[workerpool0-0\] step 7: clipping$", first)
    assert "[train] step 7" in second


# --- the Cloud Logging API sink --------------------------------------------------------------------------------------


def test_the_api_sink_delivers_log_name_resource_labels_severity_and_payload(
    pipeline: LogPipeline, out: io.StringIO, fake_logging: FakeLogging
) -> None:
    """Each record becomes one entry of projects/P/logs/vertex-launcher with the stdout line's content."""
    resource = monitored_resource(project="demo-project", namespace="ml", pod_name="nightly-train-29512345-x7k2p")
    attach(pipeline, fake_logging, resource=resource)
    pipeline.bind_labels(job="projects/p/locations/r/customJobs/1")
    log.warning("transient API error, retrying", error_code="UNAVAILABLE", retry_in_seconds=7.5)
    pipeline.close()

    (entry,) = fake_logging.entries
    (line,) = lines(out)
    assert entry["logName"] == "projects/demo-project/logs/vertex-launcher"
    assert entry["resource"] == {
        "type": "k8s_container",
        "labels": {
            "project_id": "demo-project",
            "location": "",
            "cluster_name": "",
            "namespace_name": "ml",
            "pod_name": "nightly-train-29512345-x7k2p",
            "container_name": "",
        },
    }
    assert entry["severity"] == "WARNING"
    assert entry["labels"] == line[LABELS_KEY]
    assert entry["labels"]["job"] == "projects/p/locations/r/customJobs/1"
    assert entry["jsonPayload"] == {
        "message": "transient API error, retrying",
        "error_code": "UNAVAILABLE",
        "retry_in_seconds": 7.5,
    }
    assert datetime.fromisoformat(entry["timestamp"]) == datetime.fromisoformat(line["time"])
    location = line[SOURCE_LOCATION_KEY]
    assert entry["sourceLocation"] == {**location, "line": str(location["line"])}  # int64 shows as text in JSON


def test_records_logged_before_attach_are_sent_first_and_in_order(
    pipeline: LogPipeline, fake_logging: FakeLogging
) -> None:
    """config loaded and identity, logged before credentials exist, reach the API ahead of later records."""
    log.info("configuration loaded", region="us-central1")
    log.info("credentials ready", principal="launcher@demo-project.iam.gserviceaccount.com")
    attach(pipeline, fake_logging)
    log.info("job submitted", job="projects/p/locations/r/customJobs/1")
    pipeline.close()

    assert [e["jsonPayload"]["message"] for e in fake_logging.entries] == [
        "configuration loaded",
        "credentials ready",
        "job submitted",
    ]


def test_records_kept_before_a_reconfiguration_are_sent_too(out: io.StringIO, fake_logging: FakeLogging) -> None:
    """Defaults first, then the settings' values: what the first configuration kept still reaches the API."""
    configure_logging(fmt="json", level="INFO", labels={}, stream=out)
    log.info("starting")
    pipeline = configure_logging(fmt="console", level="INFO", labels=LABELS, stream=out)
    log.info("configuration loaded")
    attach(pipeline, fake_logging)
    pipeline.close()

    assert [e["jsonPayload"]["message"] for e in fake_logging.entries] == ["starting", "configuration loaded"]


def test_with_buffer_limit_zero_nothing_is_kept_for_a_later_attach(out: io.StringIO, fake_logging: FakeLogging) -> None:
    """LOG_SINK=stdout needs no buffer: buffer_limit=0 keeps nothing."""
    pipeline = configure_logging(fmt="json", level="INFO", labels={}, stream=out, buffer_limit=0)
    log.info("not kept")
    attach(pipeline, fake_logging)
    log.info("sent")
    pipeline.close()

    assert [e["jsonPayload"]["message"] for e in fake_logging.entries] == ["sent"]


def test_close_flushes_every_queued_record(pipeline: LogPipeline, fake_logging: FakeLogging) -> None:
    """Records logged right before close all arrive; the library's own diagnostic entry is not sent."""
    attach(pipeline, fake_logging)
    for number in range(120):
        log.info("heartbeat", number=number)
    log_run_finished({"outcome": "succeeded", "exit_code": 0, "duration_seconds": 3.0})
    pipeline.close()

    entries = fake_logging.entries
    assert [e["jsonPayload"].get("number") for e in entries[:120]] == list(range(120))
    assert entries[-1]["jsonPayload"]["message"] == "run finished"
    assert len(entries) == 121
    assert len(fake_logging.requests) >= 3  # written in batches


def test_the_default_resource_is_global_for_the_project(pipeline: LogPipeline, fake_logging: FakeLogging) -> None:
    """Without namespace and pod the entries are filed under the ``global`` resource."""
    attach(pipeline, fake_logging)
    log.info("hello")
    pipeline.close()

    assert fake_logging.entries[0]["resource"] == {"type": "global", "labels": {"project_id": "demo-project"}}


def test_the_sink_sends_the_bearer_token_and_no_record_contains_it(
    pipeline: LogPipeline, out: io.StringIO, fake_logging: FakeLogging
) -> None:
    """The token authenticates each write, and is redacted from both stdout and the written entries."""
    attach(pipeline, fake_logging)
    log.info("token refreshed", access_token=TOKEN, detail=f"Bearer {TOKEN}")
    pipeline.close()

    assert fake_logging.metadata[0]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in json.dumps(fake_logging.requests)
    assert TOKEN not in out.getvalue()


def test_a_transient_unavailable_answer_is_retried(pipeline: LogPipeline, fake_logging: FakeLogging) -> None:
    """UNAVAILABLE is retried within the sink's budget and the entries still arrive, once."""
    fake_logging.fail_next(grpc.StatusCode.UNAVAILABLE, times=2)
    attach(pipeline, fake_logging)
    log.info("job submitted")
    pipeline.close()

    assert [e["jsonPayload"]["message"] for e in fake_logging.entries] == ["job submitted"]


def test_a_refused_write_is_reported_once_on_stderr_and_never_raises(
    pipeline: LogPipeline, out: io.StringIO, fake_logging: FakeLogging, capsys: pytest.CaptureFixture[str]
) -> None:
    """PERMISSION_DENIED: one stderr line, later records only on stdout, the run carries on."""
    fake_logging.fail_next(grpc.StatusCode.PERMISSION_DENIED)
    attach(pipeline, fake_logging)
    log.info("first")
    pipeline.close()
    log.info("after close")

    errors = capsys.readouterr().err.splitlines()
    assert errors
    assert all(error.startswith(SINK_ERROR_PREFIX) for error in errors)
    assert "PermissionDenied" in errors[0]
    assert [line["message"] for line in lines(out)] == ["first", "after close"]


def test_a_dead_endpoint_costs_a_stderr_line_and_no_exception(
    pipeline: LogPipeline, out: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody listening: the sink gives up within its budget, says so on stderr, stdout is unaffected."""
    pipeline.attach_cloud_logging(
        credentials=token_credentials(),
        project="demo-project",
        endpoint=f"127.0.0.1:{free_port()}",
        insecure=True,
        retry_seconds=0.5,
        close_timeout=10.0,
    )
    log.info("job submitted")
    pipeline.close()

    err = capsys.readouterr().err
    assert err.startswith(SINK_ERROR_PREFIX)
    assert TOKEN not in err
    assert lines(out)[0]["message"] == "job submitted"


def test_a_sink_that_cannot_start_reports_on_stderr(
    pipeline: LogPipeline, out: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unusable settings for the sink (here no resource type) never raise out of attach."""
    pipeline.attach_cloud_logging(
        credentials=token_credentials(), project="p", endpoint="127.0.0.1:1", insecure=True, resource={"x": 1}
    )
    log.info("still logging")
    pipeline.close()

    assert capsys.readouterr().err.startswith(f"{SINK_ERROR_PREFIX} could not start")
    assert lines(out)[0]["message"] == "still logging"


def test_close_is_harmless_without_a_sink_and_when_repeated(pipeline: LogPipeline) -> None:
    """close() can be called on every exit path, any number of times."""
    pipeline.close()
    pipeline.close()


def test_monitored_resource_is_k8s_container_only_when_namespace_and_pod_are_known() -> None:
    """Namespace and pod name make a k8s_container resource; otherwise it is global."""
    assert monitored_resource(project="p", namespace="ml")["type"] == "global"
    container = monitored_resource(
        project="p", namespace="ml", pod_name="pod", container_name="launcher", cluster_name="c", location="l"
    )
    assert container == {
        "type": "k8s_container",
        "labels": {
            "project_id": "p",
            "location": "l",
            "cluster_name": "c",
            "namespace_name": "ml",
            "pod_name": "pod",
            "container_name": "launcher",
        },
    }


def test_the_stock_tls_client_writes_to_an_endpoint_it_trusts(tmp_path: Path) -> None:
    """The production path (TLS + google-auth call credentials) against the fake behind a self-signed certificate.

    Runs in a child process: gRPC reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once, at the first TLS channel.
    """
    key, certificate = self_signed_certificate("localhost")
    (tmp_path / "ca.pem").write_bytes(certificate)
    fake = FakeLogging().start(tls=(key, certificate))
    port = fake.target.rsplit(":", 1)[1]
    script = textwrap.dedent(
        f"""
        import structlog
        from google.oauth2.credentials import Credentials
        from vertex_launcher.logs import configure_logging
        pipeline = configure_logging(fmt="json", level="INFO", labels={{"run_key": "k"}})
        pipeline.attach_cloud_logging(
            credentials=Credentials(token="{TOKEN}"), project="demo-project", endpoint="localhost:{port}",
            insecure=False,
        )
        structlog.get_logger("x").info("over tls")
        pipeline.close()
        """
    )
    env = {**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tmp_path / "ca.pem")}
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    finally:
        fake.stop()

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert [e["jsonPayload"]["message"] for e in fake.entries] == ["over tls"]
    assert fake.metadata[0]["authorization"] == f"Bearer {TOKEN}"
