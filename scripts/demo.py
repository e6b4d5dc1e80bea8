"""`make demo`: start the built-in emulator, run one CustomJob and one PipelineJob through the real launcher.

No Google account needed: the launcher talks plaintext gRPC to the local emulator with anonymous credentials.
Shows the human-readable (LOG_FORMAT=console) story of each run, the job's own log lines streamed from the
emulator's Cloud Logging API between the launcher's records (STREAM_LOGS=true: ``[workerpool0-0] …``, pipeline
lines tagged with their task), and the result; exits 0 when both succeed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The emulator on free ports, a simulated minute passing every 12 seconds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vertex_launcher", "emulator", "--port", "0", "--rest-port", "0", "--time-scale", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready: dict[str, str] = json.loads(process.stdout.readline())
    # The simulated jobs write a line every 2 simulated seconds per replica (a CustomJob's, a pipeline task's).
    request = urllib.request.Request(  # noqa: S310 - the emulator on this machine
        f"{ready['rest']}/_emulator/logs",
        data=json.dumps({"lines_per_minute": 30, "ingestion_delay_seconds": 1}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=30).close()  # noqa: S310
    return process, ready


def launch(title: str, env: dict[str, str]) -> int:
    """Run the launcher once and show its result."""
    print(f"\n=== {title} ===", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        env = {**env, "VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH": str(Path(folder) / "termination-log")}
        code = subprocess.call([sys.executable, "-m", "vertex_launcher", "run"], env=env)
        message = Path(folder, "termination-log").read_text(encoding="utf-8")
    result = json.loads(message)
    print(f"--- exit code {code}; termination message (what `kubectl describe pod` shows):")
    print(json.dumps({k: result[k] for k in ("outcome", "job", "state", "exit_code", "duration_seconds")}, indent=2))
    return code


def main() -> int:
    """Both demo runs against one emulator."""
    emulator, ready = start_emulator()
    print(f"emulator ready: gRPC {ready['grpc']}, REST {ready['rest']}", flush=True)
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("VERTEX_LAUNCHER_", "GOOGLE_APPLICATION_CREDENTIALS"))
    }
    base |= {
        "VERTEX_LAUNCHER_PROJECT": "demo-project",
        "VERTEX_LAUNCHER_REGION": "us-central1",
        "VERTEX_LAUNCHER_API_ENDPOINT": ready["grpc"],
        "VERTEX_LAUNCHER_API_INSECURE": "true",
        "VERTEX_LAUNCHER_CREDENTIALS": "anonymous",
        "VERTEX_LAUNCHER_LOG_FORMAT": "console",
        "VERTEX_LAUNCHER_POLL_INITIAL_SECONDS": "1",
        "VERTEX_LAUNCHER_POLL_MAX_SECONDS": "5",
        "VERTEX_LAUNCHER_STREAM_LOGS": "true",
        "VERTEX_LAUNCHER_LOGGING_API_ENDPOINT": ready["grpc"],
        "VERTEX_LAUNCHER_STREAM_LOGS_POLL_SECONDS": "1",
        "VERTEX_LAUNCHER_STREAM_LOGS_LAG_SECONDS": "2",
    }
    try:
        custom = launch(
            "CustomJob from examples/custom-job-spec.yaml",
            base
            | {
                "VERTEX_LAUNCHER_SPEC_FILE": str(ROOT / "examples" / "custom-job-spec.yaml"),
                "VERTEX_LAUNCHER_SCHEDULE_NAME": "demo-train",
                "VERTEX_LAUNCHER_RUN_KEY": f"demo-{uuid.uuid4().hex[:8]}",
            },
        )
        pipeline = launch(
            "PipelineJob from examples/nightly-pipeline.yaml (compiled with kfp)",
            base
            | {
                "VERTEX_LAUNCHER_JOB_TYPE": "pipeline",
                "VERTEX_LAUNCHER_PIPELINE_TEMPLATE": str(ROOT / "examples" / "nightly-pipeline.yaml"),
                "VERTEX_LAUNCHER_PIPELINE_PARAMETERS": '{"day": "{{scheduled_date}}", "epochs": 2}',
                "VERTEX_LAUNCHER_SCHEDULE_NAME": "demo-pipeline",
                "VERTEX_LAUNCHER_RUN_KEY": f"demo-{uuid.uuid4().hex[:8]}",
            },
        )
    finally:
        emulator.terminate()
        emulator.wait(timeout=20)
    ok = custom == 0 and pipeline == 0
    print(f"\ndemo {'succeeded' if ok else 'FAILED'}: custom job exit {custom}, pipeline job exit {pipeline}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
