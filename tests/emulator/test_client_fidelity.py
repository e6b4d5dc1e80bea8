"""Fidelity with clients we do not control: the high-level Vertex SDK (REST transport) and gcloud.

The SDK is imported only here (it costs seconds). ``PipelineJob.submit`` first checks the pipeline root's
bucket through Cloud Storage; a local fake that answers 403 at once (the SDK logs and ignores that) keeps the
test offline and fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.jobs import KFP18_JOB, PARENT
from tests.fixtures.emulator import Emulator
from tests.pipelines import compile_pipeline, compile_pipeline_with_defaults

POOL = {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {"image_uri": "img"}}


class _ForbiddenStorage(BaseHTTPRequestHandler):
    def _deny(self) -> None:
        body = json.dumps({"error": {"code": 403, "message": "fake storage says no", "status": "PERMISSION_DENIED"}})
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _deny  # noqa: N815 - stdlib handler names

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="storage_host")
def _storage_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Cloud Storage stand-in that refuses everything, wired in through STORAGE_EMULATOR_HOST."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForbiddenStorage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", host)
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(name="sdk")
def _sdk(emulator: Emulator) -> Any:
    """``google.cloud.aiplatform`` initialised against the emulator's REST endpoint, anonymous."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    aiplatform.init(
        project="demo-project",
        location="us-central1",
        staging_bucket="gs://demo-bucket",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        api_endpoint=emulator.rest,
        api_transport="rest",
    )
    return aiplatform


def test_the_sdk_submits_gets_lists_and_cancels_a_custom_job(sdk: Any, emulator: Emulator) -> None:
    """CustomJob(...).submit() creates exactly one job; get/list/cancel see it like Vertex."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=1e9, cancel_seconds=1e9)
    job = sdk.CustomJob(display_name="sdk-job", worker_pool_specs=[POOL], labels={"team": "ml"})
    job.submit()
    assert job.resource_name.startswith(f"{PARENT}/customJobs/")
    assert [made["name"] for made in emulator.jobs()] == [job.resource_name]
    fetched = sdk.CustomJob.get(job.resource_name)
    assert fetched.state.name == "JOB_STATE_RUNNING"
    assert [found.resource_name for found in sdk.CustomJob.list(filter='labels.team="ml"')] == [job.resource_name]
    job.cancel()
    assert sdk.CustomJob.get(job.resource_name).state.name == "JOB_STATE_CANCELLING"


def test_the_sdk_submits_a_pipeline_job_with_its_id_and_parameters(
    sdk: Any, emulator: Emulator, storage_host: str, tmp_path: Path
) -> None:
    """PipelineJob(...).submit(): job_id names the job, parameter values arrive, tasks are reported at the end."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    template = compile_pipeline(tmp_path / "pipeline.yaml", pipeline_root=None)
    job = sdk.PipelineJob(
        display_name="sdk-pipeline",
        template_path=str(template),
        pipeline_root="gs://demo-bucket/root",
        parameter_values={"day": "2026-11-30", "epochs": 5},
        job_id="sdk-run-1",
        labels={"team": "ml"},
        enable_caching=False,
    )
    job.submit()
    assert job.resource_name == f"{PARENT}/pipelineJobs/sdk-run-1"
    job.wait()
    assert job.state.name == "PIPELINE_STATE_SUCCEEDED"
    assert [task.task_name for task in job.task_details] == ["nightly-train", "evaluate", "train"]
    stored = emulator.pipeline_client().get_pipeline_job(name=job.resource_name)
    assert dict(stored.runtime_config.parameter_values) == {"day": "2026-11-30", "epochs": 5}
    assert stored.runtime_config.gcs_output_directory == "gs://demo-bucket/root"


@pytest.mark.parametrize(
    ("template", "parameters"),
    [("kfp-1.8", {"day": "2026-11-30", "epochs": 5, "learning_rate": "0.2"}), ("v2-defaults", {"epochs": 7})],
)
@pytest.mark.usefixtures("storage_host")
def test_the_launcher_sends_the_runtime_config_the_sdk_sends(
    sdk: Any, emulator: Emulator, tmp_path: Path, template: str, parameters: dict[str, Any]
) -> None:
    """For a KFP 1.8 job file and a v2 template with defaults, the launcher's runtimeConfig is the SDK's, as stored."""
    from google.protobuf import json_format

    from vertex_launcher.settings import Settings
    from vertex_launcher.spec import Run, build_request
    from vertex_launcher.templates import make_loader
    from vertex_launcher.vertex import canonical

    path = KFP18_JOB if template == "kfp-1.8" else compile_pipeline_with_defaults(tmp_path / "defaults.yaml")
    job = sdk.PipelineJob(display_name="sdk", template_path=str(path), parameter_values=parameters, job_id="sdk-1")
    job.submit()
    stored = emulator.pipeline_client().get_pipeline_job(name=job.resource_name).runtime_config
    settings = Settings(
        region="us-central1", job_type="pipeline", pipeline_template=str(path), pipeline_parameters=parameters
    )
    run = Run(key="k", schedule="s", namespace=None, scheduled_time=datetime.now(UTC))
    ours = canonical(build_request(settings, run, project="demo-project", load_template=make_loader()))
    assert json_format.MessageToDict(type(stored).pb(stored)) == ours["runtimeConfig"]


@pytest.fixture(name="gcloud")
def _gcloud(emulator: Emulator, tmp_path: Path) -> Any:
    """``gcloud ai custom-jobs ARGS --region=us-central1 --format=json`` against the emulator, as dev@example.com."""
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud is not installed")
    env = {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"{emulator.rest}/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN": "gcloud-token",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_PROJECT": "demo-project",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }
    emulator.set_principals(
        [
            {
                "email": "dev@example.com",
                "token": "gcloud-token",
                "permissions": ["aiplatform.customJobs.create", "aiplatform.customJobs.get"],
            }
        ]
    )

    def gcloud(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            ["gcloud", "ai", "custom-jobs", *args, "--region=us-central1", "--format=json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return gcloud


def test_gcloud_creates_and_describes_a_custom_job(emulator: Emulator, gcloud: Any) -> None:
    """`gcloud ai custom-jobs create/describe` through api_endpoint_overrides/aiplatform, with a bearer token."""
    created = gcloud(
        "create",
        "--display-name=gcloud-job",
        "--labels=team=ml",
        "--worker-pool-spec=machine-type=n1-standard-4,replica-count=1,container-image-uri=img",
    )
    assert created["name"].startswith(f"{PARENT}/customJobs/")
    described = gcloud("describe", created["name"])
    assert (described["displayName"], described["labels"]) == ("gcloud-job", {"team": "ml"})
    log = [(entry["method"], entry["principal"]) for entry in emulator.requests()]
    assert log == [("CreateCustomJob", "dev@example.com"), ("GetCustomJob", "dev@example.com")]


GCLOUD_HELP_CONFIG = """\
workerPoolSpecs:
  machineSpec:
    machineType: n1-highmem-2
  replicaCount: 1
  containerSpec:
    imageUri: gcr.io/ucaip-test/ucaip-training-test
    args:
    - port=8500
    command: start
reservedIpRanges: vertex-range
network: projects/123456789012/global/networks/vpc
"""


def test_a_config_file_gcloud_takes_makes_the_same_job_spec_through_the_launcher(
    emulator: Emulator, gcloud: Any, tmp_path: Path
) -> None:
    """gcloud's own --config help example (workerPoolSpecs as one mapping; one value where a list goes)."""
    from google.protobuf import json_format

    from vertex_launcher.settings import Settings
    from vertex_launcher.spec import Run, build_request
    from vertex_launcher.templates import make_loader
    from vertex_launcher.vertex import canonical

    config = tmp_path / "config.yaml"
    config.write_text(GCLOUD_HELP_CONFIG, encoding="utf-8")
    created = gcloud("create", "--display-name=gcloud-job", f"--config={config}")
    stored = emulator.job_client(token="gcloud-token").get_custom_job(name=created["name"]).job_spec
    settings = Settings(region="us-central1", spec_file=config)
    run = Run(key="k", schedule="s", namespace=None, scheduled_time=datetime.now(UTC))
    ours = canonical(build_request(settings, run, project="demo-project", load_template=make_loader()))["jobSpec"]
    assert json_format.MessageToDict(type(stored).pb(stored)) == ours
