"""VERTEX_LAUNCHER_OUTPUTS_DIR: one file per result field plus result.json, atomically, on every run."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from tests.fixtures.emulator import Emulator
from tests.launcher import launcher_env, run
from vertex_launcher.outputs import FIELDS, RESULT_FILE, output_files, write_outputs
from vertex_launcher.settings import Settings

RECORD = {
    "message": "run finished",
    "outcome": "succeeded",
    "job": "projects/demo/locations/us-central1/customJobs/42",
    "state": "JOB_STATE_SUCCEEDED",
    "exit_code": 0,
    "duration_seconds": 12.5,
    "console_url": "https://console.cloud.google.com/vertex-ai/locations/us-central1/training/42",
    "reattached": False,
}


def _read(directory: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.iterdir())}


def test_each_field_is_its_value_as_plain_text_and_result_json_is_the_whole_record() -> None:
    """Strings verbatim, the exit code as digits, no trailing newline; result.json parses back to the record."""
    files = output_files(RECORD)
    assert list(files) == [*FIELDS, RESULT_FILE]
    assert files["outcome"] == "succeeded"
    assert files["job"] == RECORD["job"]
    assert files["exit_code"] == "0"
    assert files["console_url"] == RECORD["console_url"]
    assert json.loads(files[RESULT_FILE]) == RECORD


def test_a_null_field_is_an_empty_file_not_the_word_null() -> None:
    """A run without a job (a configuration error) leaves job, state and console_url empty: testable as ''."""
    files = output_files({"outcome": "error", "job": None, "state": None, "exit_code": 2, "console_url": None})
    assert (files["job"], files["state"], files["console_url"]) == ("", "", "")
    assert files["exit_code"] == "2"


def test_writing_creates_the_directory_replaces_old_files_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A retried pod overwrites the previous attempt's files; only the six result files are left, mode 0644."""
    directory = tmp_path / "outputs" / "nested"
    assert write_outputs(directory, {**RECORD, "outcome": "failed", "exit_code": 1})
    assert write_outputs(directory, RECORD)
    files = _read(directory)
    assert sorted(files) == sorted([*FIELDS, RESULT_FILE])
    assert (files["outcome"], files["exit_code"]) == ("succeeded", "0")
    assert {stat.S_IMODE((directory / name).stat().st_mode) for name in files} == {0o644}


def test_a_replaced_file_is_a_new_inode_so_a_reader_never_sees_half_a_value(tmp_path: Path) -> None:
    """The old file stays readable whole until the rename: a reader holding it open keeps the old content."""
    assert write_outputs(tmp_path, {**RECORD, "job": "first"})
    with (tmp_path / "job").open(encoding="utf-8") as held:
        assert write_outputs(tmp_path, {**RECORD, "job": "second"})
        assert held.read() == "first"
    assert (tmp_path / "job").read_text(encoding="utf-8") == "second"


def test_a_failure_to_write_is_one_line_on_stderr_and_never_an_exception(tmp_path: Path) -> None:
    """A directory path that is a file: False, one line naming the directory, nothing raised."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x", encoding="utf-8")
    errors = io.StringIO()
    assert write_outputs(blocker, RECORD, errors=errors) is False
    [line] = errors.getvalue().splitlines()
    assert line.startswith("vertex-launcher: cannot write the outputs to ")
    assert str(blocker) in line


def test_an_empty_outputs_dir_means_no_files() -> None:
    """VERTEX_LAUNCHER_OUTPUTS_DIR='' is the same as unset (not the current directory)."""
    assert Settings(region="us-central1", image_uri="busybox", outputs_dir="").outputs_dir is None  # type: ignore[arg-type]


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


def test_a_run_writes_the_files_of_its_canonical_result(fast: Emulator, tmp_path: Path) -> None:
    """The real process: each file is the result's field; result.json is the record the termination message has."""
    done = run(launcher_env(fast, tmp_path, outputs_dir=str(tmp_path / "out"), run_key="outputs-ok"))
    assert done.exit_code == 0, done.stderr
    files = _read(tmp_path / "out")
    result = json.loads(files[RESULT_FILE])
    assert result == json.loads((tmp_path / "termination-log").read_text(encoding="utf-8"))
    assert result.items() <= done.result.items()
    for name in FIELDS:
        expected = done.result[name]
        assert files[name] == (str(expected) if expected is not None else "")
    assert files["outcome"] == "succeeded"


def test_a_configuration_error_before_settings_exist_still_writes_the_files(tmp_path: Path) -> None:
    """An unknown variable stops the run before Settings: OUTPUTS_DIR is read raw, the files say error / 2."""
    env = launcher_env(None, tmp_path, outputs_dir=str(tmp_path / "out"), VERTEX_LAUNCHER_REGOIN="us-central1")
    done = run(env)
    assert done.exit_code == 2
    files = _read(tmp_path / "out")
    assert (files["outcome"], files["exit_code"], files["job"], files["state"]) == ("error", "2", "", "")
    assert json.loads(files[RESULT_FILE])["error"]["message"].startswith("VERTEX_LAUNCHER_REGOIN: unknown variable")


def test_an_unwritable_outputs_dir_is_reported_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """Outputs cannot be written (the path is a file): one stderr line; the configuration error's 2 stays."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    done = run(launcher_env(None, tmp_path, outputs_dir=str(blocker / "out"), region="US"))
    assert done.exit_code == 2
    assert "vertex-launcher: cannot write the outputs to" in done.stderr
    assert done.result["outcome"] == "error"
