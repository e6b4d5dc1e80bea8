"""Bad input: one clear line naming the variable or field, exit 2, no traceback — and nothing reaches Vertex."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.emulator import Emulator
from tests.launcher import launcher_env, run
from tests.pipelines import compile_pipeline

SPEC_UNKNOWN_FIELD = "workerPoolSpecs:\n  - machineSpec: {machineType: n1-standard-4}\n    replicaCount: 1\n"
SPEC_UNKNOWN_FIELD += "    containerSpec: {imageUri: busybox}\nschedulling: {timeout: 60s}\n"

# (id, settings, the variable or field the one-line message must name)
CASES: list[tuple[str, dict[str, object], str]] = [
    ("missing region", {"region": None}, "VERTEX_LAUNCHER_REGION: is required"),
    ("region format", {"region": "US"}, "VERTEX_LAUNCHER_REGION"),
    ("job type typo", {"job_type": "custon"}, "VERTEX_LAUNCHER_JOB_TYPE"),
    ("args not json", {"args": "[--epochs"}, "VERTEX_LAUNCHER_ARGS: not valid JSON"),
    ("args not a list", {"args": '{"a": 1}'}, "VERTEX_LAUNCHER_ARGS"),
    ("command of numbers", {"command": "[1, 2]"}, "VERTEX_LAUNCHER_COMMAND"),
    ("env not an object", {"env": '["A=1"]'}, "VERTEX_LAUNCHER_ENV"),
    ("label key", {"labels": '{"Team": "x"}'}, "VERTEX_LAUNCHER_LABELS"),
    ("parameters not json", {"pipeline_parameters": "{day: 1}"}, "VERTEX_LAUNCHER_PIPELINE_PARAMETERS: not valid JSON"),
    ("typo in a variable name", {"VERTEX_LAUNCHER_REGOIN": "us-central1"}, "VERTEX_LAUNCHER_REGOIN: unknown variable"),
    ("negative poll interval", {"poll_initial_seconds": "-1"}, "VERTEX_LAUNCHER_POLL_INITIAL_SECONDS"),
    ("poll max below initial", {"poll_initial_seconds": "30", "poll_max_seconds": "5"}, "VERTEX_LAUNCHER_POLL_MAX"),
    ("zero timeout", {"timeout_seconds": "0"}, "VERTEX_LAUNCHER_TIMEOUT_SECONDS"),
    ("wait not a boolean", {"wait": "maybe"}, "VERTEX_LAUNCHER_WAIT"),
    ("on terminate typo", {"on_terminate": "kill"}, "VERTEX_LAUNCHER_ON_TERMINATE"),
    ("concurrency typo", {"concurrency_policy": "Sometimes"}, "VERTEX_LAUNCHER_CONCURRENCY_POLICY"),
    ("scheduled time garbage", {"scheduled_time": "yesterday"}, "VERTEX_LAUNCHER_SCHEDULED_TIME"),
    ("scheduled time naive", {"scheduled_time": "2026-01-31T02:00:00"}, "VERTEX_LAUNCHER_SCHEDULED_TIME"),
    ("unknown placeholder in args", {"args": '["{{schedule_time}}"]'}, "VERTEX_LAUNCHER_ARGS[0]: unknown placeholder"),
    ("unknown placeholder in name", {"display_name": "x-{{date}}"}, "VERTEX_LAUNCHER_DISPLAY_NAME"),
    ("display name too long", {"display_name": "x" * 129}, "VERTEX_LAUNCHER_DISPLAY_NAME"),
    ("replica count zero", {"replica_count": "0"}, "VERTEX_LAUNCHER_REPLICA_COUNT"),
    ("accelerator count alone", {"accelerator_count": "2"}, "VERTEX_LAUNCHER_ACCELERATOR_COUNT"),
    ("log level", {"log_level": "LOUD"}, "VERTEX_LAUNCHER_LOG_LEVEL"),
    ("credentials mode", {"credentials": "keyfile"}, "VERTEX_LAUNCHER_CREDENTIALS"),
    ("insecure toward a remote host", {"api_endpoint": "10.0.0.8:8500"}, "VERTEX_LAUNCHER_API_INSECURE"),
    ("insecure without endpoint", {"api_endpoint": None}, "VERTEX_LAUNCHER_API_ENDPOINT"),
    ("plaintext streaming without a logging endpoint", {"stream_logs": "true"}, "VERTEX_LAUNCHER_LOGGING_API_ENDPOINT"),
    (
        "plaintext streaming toward a remote host",
        {"stream_logs": "true", "logging_api_endpoint": "10.0.0.8:8500"},
        "VERTEX_LAUNCHER_LOGGING_API_ENDPOINT",
    ),
    ("stream logs not a boolean", {"stream_logs": "sometimes"}, "VERTEX_LAUNCHER_STREAM_LOGS"),
    ("zero line budget", {"stream_logs_max_lines_per_minute": "0"}, "VERTEX_LAUNCHER_STREAM_LOGS_MAX_LINES_PER_MINUTE"),
    ("spec file missing", {"image_uri": None, "spec_file": "/nonexistent/spec.yaml"}, "VERTEX_LAUNCHER_SPEC_FILE"),
    ("spec file unknown field", {"image_uri": None, "spec_file": "@unknown-field"}, "schedulling"),
    ("spec file not a mapping", {"image_uri": None, "spec_file": "@list"}, "VERTEX_LAUNCHER_SPEC_FILE"),
    ("spec file and image", {"spec_file": "@list"}, "VERTEX_LAUNCHER_SPEC_FILE"),
    ("pipeline without template", {"job_type": "pipeline"}, "VERTEX_LAUNCHER_PIPELINE_TEMPLATE"),
    (
        "template missing",
        {"job_type": "pipeline", "pipeline_template": "/nope.yaml"},
        "VERTEX_LAUNCHER_PIPELINE_TEMPLATE",
    ),
    (
        "template not a pipeline",
        {"job_type": "pipeline", "pipeline_template": "@list"},
        "VERTEX_LAUNCHER_PIPELINE_TEMPLATE",
    ),
    (
        "template scheme",
        {"job_type": "pipeline", "pipeline_template": "ftp://x/p.yaml"},
        "VERTEX_LAUNCHER_PIPELINE_TEMPLATE",
    ),
    (
        "unknown pipeline parameter",
        {"job_type": "pipeline", "pipeline_template": "@pipeline", "pipeline_parameters": '{"dya": "1"}'},
        "VERTEX_LAUNCHER_PIPELINE_PARAMETERS: unknown parameter(s) dya",
    ),
    (
        "missing pipeline parameter",
        {"job_type": "pipeline", "pipeline_template": "@pipeline"},
        "VERTEX_LAUNCHER_PIPELINE_PARAMETERS: missing required parameter(s) day",
    ),
    ("pipeline root scheme", {"pipeline_root": "/tmp/root"}, "VERTEX_LAUNCHER_PIPELINE_ROOT"),
    (
        "old-format parameter of the wrong type",
        {"job_type": "pipeline", "pipeline_template": "@kfp18", "pipeline_parameters": '{"day": "x", "epochs": 1.5}'},
        "VERTEX_LAUNCHER_PIPELINE_PARAMETERS: parameter epochs must be an integer",
    ),
    (
        "pipeline without any root",
        {"job_type": "pipeline", "pipeline_template": "@no-root", "pipeline_parameters": '{"day": "x"}'},
        "VERTEX_LAUNCHER_PIPELINE_ROOT: required, because the template has no defaultPipelineRoot",
    ),
    ("network by project id", {"network": "projects/demo/global/networks/vpc"}, "VERTEX_LAUNCHER_NETWORK"),
    ("ranges without a network", {"reserved_ip_ranges": '["r1"]'}, "VERTEX_LAUNCHER_RESERVED_IP_RANGES"),
    ("kms key format", {"encryption_spec_key_name": "my-key"}, "VERTEX_LAUNCHER_ENCRYPTION_SPEC_KEY_NAME"),
    ("custom job file sets our label", {"image_uri": None, "spec_file": "@our-label"}, "labels.vertex-launcher-run"),
    ("zero max attempts", {"max_attempts": "0"}, "VERTEX_LAUNCHER_MAX_ATTEMPTS"),
    ("resubmit class typo", {"resubmit_on": "capacity,stockout"}, "VERTEX_LAUNCHER_RESUBMIT_ON[1]"),
    ("resubmit above max", {"resubmit_max_attempts": "4"}, "VERTEX_LAUNCHER_RESUBMIT_MAX_ATTEMPTS: must be ≤"),
    ("fallbacks without resubmit", {"resubmit_fallbacks": '[{"region": "us-east1"}]'}, "set RESUBMIT_ON too"),
    (
        "fallback key typo",
        {"resubmit_on": "capacity", "resubmit_fallbacks": '[{"acceleratorTyp": "NVIDIA_L4"}]'},
        "VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[0].acceleratorTyp",
    ),
    (
        "fallback accelerator unknown to Vertex",
        {"resubmit_on": "capacity", "resubmit_fallbacks": '[{"acceleratorType": "NVIDIA_H9000"}]'},
        "VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[0]: ",
    ),
    (
        "fallback strategy",
        {"resubmit_on": "preempted", "resubmit_fallbacks": '[{"schedulingStrategy": "CHEAP"}]'},
        "VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[0].schedulingStrategy",
    ),
    (
        "fallback worker pool out of range",
        {"resubmit_on": "capacity", "resubmit_fallbacks": '[{"machineType": "g2-standard-8", "workerPools": [3]}]'},
        "VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[0].workerPools",
    ),
    (
        "pipeline fallback changing machines",
        {
            "job_type": "pipeline",
            "pipeline_template": "@pipeline",
            "resubmit_on": "capacity",
            "resubmit_fallbacks": '[{"machineType": "g2-standard-8"}]',
        },
        "VERTEX_LAUNCHER_RESUBMIT_FALLBACKS[0]: a PipelineJob's machines",
    ),
    ("capacity resubmit without waiting", {"wait": "false", "resubmit_on": "capacity"}, "VERTEX_LAUNCHER_RESUBMIT_ON"),
]


@pytest.fixture(name="files", scope="module")
def _files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-input")
    (folder / "unknown-field.yaml").write_text(SPEC_UNKNOWN_FIELD, encoding="utf-8")
    (folder / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (folder / "our-label.yaml").write_text("jobSpec: {}\nlabels: {vertex-launcher-run: mine}\n", encoding="utf-8")
    return {
        "@unknown-field": str(folder / "unknown-field.yaml"),
        "@list": str(folder / "list.yaml"),
        "@our-label": str(folder / "our-label.yaml"),
        "@pipeline": str(compile_pipeline(folder / "pipeline.yaml")),
        "@no-root": str(compile_pipeline(folder / "no-root.yaml", pipeline_root=None)),
        "@kfp18": str(Path(__file__).resolve().parent / "fixtures" / "templates" / "kfp-1.8-nightly-train.json"),
    }


@pytest.mark.parametrize(("settings", "names"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_submitted(
    emulator: Emulator, tmp_path: Path, files: dict[str, str], settings: dict[str, object], names: str
) -> None:
    """Exit 2; stderr is one line naming the variable; stdout's last record is the error result; no API call."""
    resolved = {key: files.get(value, value) if isinstance(value, str) else value for key, value in settings.items()}
    done = run(launcher_env(emulator, tmp_path, **resolved))
    assert done.exit_code == 2, (done.stdout, done.stderr)
    [line] = done.stderr.splitlines()
    assert line.startswith("vertex-launcher: configuration error: ")
    assert names in line
    assert "Traceback" not in done.stdout + done.stderr
    assert (done.result["outcome"], done.result["exit_code"]) == ("error", 2)
    assert emulator.requests() == []


def test_there_are_at_least_25_bad_input_cases() -> None:
    """The table stays broad."""
    assert len(CASES) >= 25
