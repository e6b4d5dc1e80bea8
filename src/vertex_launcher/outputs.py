"""Result files for workflow engines: one file per canonical result field plus ``result.json``.

``__main__._finish`` calls ``write_outputs`` with the record it just logged, when ``VERTEX_LAUNCHER_OUTPUTS_DIR``
is set (read raw from the environment if the run failed before Settings existed). Argo Workflows reads the files
with ``outputs.parameters[].valueFrom.path`` (``k8s/argo``), Tekton as task results.

Each file is written whole or not at all: a temporary file in the same directory, then a rename, so a reader
never sees half a value. A field that is null (no job, no state) is an empty file: engines pass parameters
as strings, an empty string is what a ``when`` condition or a shell ``[ -n "$JOB" ]`` can test, whereas
``null`` or ``None`` would look like a value, and a missing file would fail the step's output collection.
``result.json`` is written last, so once it exists every other file is complete. Files are 0644: Argo's wait
container reads them and may run as another user. Writing never raises: a failure is one line on stderr,
and the exit code stays the run's.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

#: The result fields that get a file of their own, named like the field.
FIELDS = ("outcome", "job", "state", "exit_code", "console_url")
RESULT_FILE = "result.json"


def output_files(record: Mapping[str, Any]) -> dict[str, str]:
    """File name → content: each field as plain text (null → empty), then the whole record as JSON."""
    files = {name: _text(record.get(name)) for name in FIELDS}
    files[RESULT_FILE] = json.dumps(record, separators=(",", ":"), default=str)
    return files


def write_outputs(directory: str | Path, record: Mapping[str, Any], *, errors: TextIO | None = None) -> bool:
    """Write every output file into ``directory`` (created if missing); False after reporting a failure."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in output_files(record).items():
            _replace(directory / name, text)
    except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL byte in the path
        print(f"vertex-launcher: cannot write the outputs to {str(directory)!r}: {exc}", file=errors or sys.stderr)
        return False
    return True


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _replace(target: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)  # results are not secret, and the reader may be another user
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
