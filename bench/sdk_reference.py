"""The peer the benchmark compares against: the Vertex AI SDK's ``CustomJob(...).run()`` on the same job.

Run by ``bench.runner`` as its own process (``python bench/sdk_reference.py``), configured by ``BENCH_*``
variables: ``BENCH_REST`` (the emulator's ``http://127.0.0.1:PORT``), ``BENCH_PROJECT``, ``BENCH_REGION``,
``BENCH_DISPLAY_NAME``, ``BENCH_ID`` (a ``bench-id`` label), ``BENCH_RUN_SECONDS`` (the job's simulated runtime,
passed as the emulator's ``emulator-run-seconds`` label, as the launcher does) and ``BENCH_TIME_SCALE`` (the
emulator's clock speed).

The SDK's gRPC transport always uses TLS, so it talks REST to the plaintext emulator. Its watch loop sleeps a fixed
``jobs._JOB_WAIT_TIME`` (5 s) between GETs; on a scaled emulator clock that constant is divided by the same factor,
so the SDK sees the same simulated clock as the emulator (the launcher gets its poll bounds scaled the same way).
Exit 0 when the job succeeded, 1 when ``run()`` raised.
"""

from __future__ import annotations

import os
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform import jobs

IMAGE_URI = "us-docker.pkg.dev/bench/r/train:1"


def main() -> int:
    """Submit one CustomJob with the SDK and block until it ends."""
    scale = float(os.environ.get("BENCH_TIME_SCALE", "1"))
    # The SDK has no public knob for its poll period; this module constant is what its watch loop sleeps.
    jobs._JOB_WAIT_TIME = jobs._JOB_WAIT_TIME / scale  # type: ignore[assignment]
    aiplatform.init(
        project=os.environ["BENCH_PROJECT"],
        location=os.environ["BENCH_REGION"],
        api_endpoint=os.environ["BENCH_REST"],
        api_transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        staging_bucket="gs://bench",
    )
    job = aiplatform.CustomJob(
        display_name=os.environ.get("BENCH_DISPLAY_NAME", "bench-sdk"),
        worker_pool_specs=[
            {
                "machine_spec": {"machine_type": "n1-standard-4"},
                "replica_count": 1,
                "container_spec": {"image_uri": IMAGE_URI},
            }
        ],
        labels={
            "emulator-run-seconds": os.environ.get("BENCH_RUN_SECONDS", "10"),
            "bench-id": os.environ.get("BENCH_ID", "sdk"),
        },
    )
    try:
        job.run()
    except RuntimeError as exc:
        print(f"sdk_reference: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
