"""Pipelines and whole-CustomJob spec files end to end: the real launcher, the real GAPIC client, the emulator.

The emulator checks what Vertex checks (typed parameters for schema 2.0.0, parameter_values above it, a required
gcs_output_directory) and fails a job whose root its service account may not write, so each run here would fail
against Vertex if the launcher sent the wrong thing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from google.protobuf import json_format

from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_google import FakeMetadataServer
from tests.fixtures.fake_registry import FakeRegistry
from tests.launcher import launcher_env, run
from tests.pipelines import compile_pipeline, compile_pipeline_with_defaults

KFP18_JOB = Path(__file__).resolve().parent / "fixtures" / "templates" / "kfp-1.8-nightly-train.json"
REGISTRY_URI = "https://us-central1-kfp.pkg.dev/demo/pipelines/nightly-train/v1"
NETWORK = "projects/123456789012/global/networks/vpc"
KMS_KEY = "projects/demo/locations/us-central1/keyRings/ring/cryptoKeys/key"


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle (about 1.5 s per job)."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


def pipeline_env(emulator: Emulator | None, tmp_path: Path, template: Path | str, **settings: Any) -> dict[str, str]:
    """A pipeline run's environment."""
    return launcher_env(
        emulator, tmp_path, job_type="pipeline", image_uri=None, pipeline_template=str(template), **settings
    )


def stored_job(emulator: Emulator, name: str) -> dict[str, Any]:
    """The PipelineJob as the emulator stored it (REST JSON)."""
    job = emulator.pipeline_client().get_pipeline_job(name=name)
    return dict(json_format.MessageToDict(type(job).pb(job)))


def test_a_kfp_1_8_job_json_runs_with_typed_parameters_and_its_own_defaults(fast: Emulator, tmp_path: Path) -> None:
    """Schema 2.0.0: parameters as typed Values, epochs/learning_rate from the file, its root; the run succeeds."""
    done = run(pipeline_env(fast, tmp_path, KFP18_JOB, pipeline_parameters={"day": "{{scheduled_date}}"}))
    assert (done.exit_code, done.result["state"]) == (0, "PIPELINE_STATE_SUCCEEDED"), done.stdout + done.stderr
    runtime = stored_job(fast, done.result["job"])["runtimeConfig"]
    assert runtime["gcsOutputDirectory"] == "gs://demo-bucket/kfp18-root"
    assert runtime["parameters"]["epochs"] == {"intValue": "3"}
    assert runtime["parameters"]["learning_rate"] == {"doubleValue": 0.1}
    assert "parameterValues" not in runtime
    assert done.result["tasks"]["counts"] == {"SUCCEEDED": 3}


def test_a_kfp_v2_template_with_defaults_runs_with_no_parameters_and_its_default_root(
    fast: Emulator, tmp_path: Path
) -> None:
    """Every parameter has a default; no PIPELINE_ROOT: gcsOutputDirectory is the template's defaultPipelineRoot."""
    template = compile_pipeline_with_defaults(tmp_path / "defaults.yaml")
    done = run(pipeline_env(fast, tmp_path, template))
    assert (done.exit_code, done.result["state"]) == (0, "PIPELINE_STATE_SUCCEEDED"), done.stdout + done.stderr
    assert stored_job(fast, done.result["job"])["runtimeConfig"] == {"gcsOutputDirectory": "gs://demo-bucket/root"}


def test_the_pipeline_result_links_the_logs_the_console_shows(fast: Emulator, tmp_path: Path) -> None:
    """logs_url filters the PipelineJob monitored resource by the job's id."""
    done = run(pipeline_env(fast, tmp_path, compile_pipeline(tmp_path / "p.yaml"), pipeline_parameters={"day": "x"}))
    job_id = done.result["job"].rsplit("/", 1)[1]
    assert 'resource.type="aiplatform.googleapis.com/PipelineJob"' in unquote(done.result["logs_url"])
    assert f'resource.labels.pipeline_job_id="{job_id}"' in unquote(done.result["logs_url"])


@pytest.fixture(name="mds")
def _mds() -> Any:
    with FakeMetadataServer(project_id="demo") as mds:
        yield mds


@pytest.fixture(name="registry")
def _registry(mds: FakeMetadataServer, tmp_path: Path) -> Any:
    """A fake Artifact Registry that takes only tokens the fake metadata server issued."""
    with FakeRegistry(accepts=lambda token: token in mds.issued) as registry:
        registry.templates["/demo/pipelines/nightly-train/v1"] = compile_pipeline(tmp_path / "ar.yaml").read_bytes()
        yield registry


def registry_env(emulator: Emulator, tmp_path: Path, mds: FakeMetadataServer, registry: FakeRegistry) -> dict[str, str]:
    """A run with ADC from the metadata server, the template from the fake registry."""
    return pipeline_env(
        emulator,
        tmp_path,
        REGISTRY_URI,
        pipeline_parameters={"day": "2026-01-31"},
        credentials=None,
        GCE_METADATA_HOST=mds.host,
        GCE_METADATA_IP=mds.host,
        artifact_registry_endpoint=registry.url,
    )


def test_an_artifact_registry_template_is_downloaded_with_the_runs_token_and_sent_as_template_uri(
    fast: Emulator, tmp_path: Path, mds: FakeMetadataServer, registry: FakeRegistry
) -> None:
    """The download carries the run's bearer token; the job has the spec (checked, its root) and templateUri."""
    done = run(registry_env(fast, tmp_path, mds, registry))
    assert (done.exit_code, done.result["state"]) == (0, "PIPELINE_STATE_SUCCEEDED"), done.stdout + done.stderr
    [download] = registry.requests
    assert download.path == "/demo/pipelines/nightly-train/v1"
    assert download.bearer in mds.issued
    job = stored_job(fast, done.result["job"])
    assert job["templateUri"] == REGISTRY_URI
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "nightly-train"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/root"
    assert all(download.bearer not in line for line in done.stdout.splitlines())


def test_an_artifact_registry_template_the_principal_may_not_read_is_exit_3(
    fast: Emulator, tmp_path: Path, mds: FakeMetadataServer, registry: FakeRegistry
) -> None:
    """A 403 from the registry: exit 3 naming the permission, nothing submitted."""
    registry.accepts = lambda token: False
    done = run(registry_env(fast, tmp_path, mds, registry))
    assert done.exit_code == 3, done.stdout + done.stderr
    assert "artifactregistry.repositories.downloadArtifacts" in done.result["error"]["message"]
    assert fast.requests("CreatePipelineJob") == []


def test_render_shows_the_runtime_config_a_run_sends_and_reads_no_remote_template(
    tmp_path: Path, registry: FakeRegistry
) -> None:
    """render: typed parameters for the KFP 1.8 file, the filled-in root for v2; a registry template stays unread."""
    old = json.loads(run(pipeline_env(None, tmp_path, KFP18_JOB, pipeline_parameters={"day": "x"}), "render").stdout)
    assert old["pipelineJob"]["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://demo-bucket/kfp18-root",
        "parameters": {"day": {"stringValue": "x"}, "epochs": {"intValue": "3"}, "learning_rate": {"doubleValue": 0.1}},
    }
    template = compile_pipeline_with_defaults(tmp_path / "defaults.yaml")
    new = json.loads(run(pipeline_env(None, tmp_path, template, pipeline_parameters={"epochs": 7}), "render").stdout)
    assert new["pipelineJob"]["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://demo-bucket/root",
        "parameterValues": {"epochs": 7},
    }
    env = pipeline_env(None, tmp_path, REGISTRY_URI, artifact_registry_endpoint=registry.url)
    remote = json.loads(run(env, "render").stdout)["pipelineJob"]
    assert remote["templateUri"] == REGISTRY_URI
    assert remote["pipelineSpec"]["_fetchedAtRunTimeFrom"] == REGISTRY_URI
    assert registry.requests == []


def test_a_pipeline_root_the_jobs_service_account_cannot_write_fails_the_run_after_create(
    fast: Emulator, tmp_path: Path
) -> None:
    """Vertex takes the job and fails it: exit 1, Vertex's error naming the service account and the bucket."""
    fast.configure(buckets={"bucket": ["someone-else@demo.iam.gserviceaccount.com"]})
    env = pipeline_env(
        fast,
        tmp_path,
        compile_pipeline(tmp_path / "p.yaml"),
        pipeline_parameters={"day": "x"},
        service_account="job-sa@demo.iam.gserviceaccount.com",
    )
    done = run(env)
    assert (done.exit_code, done.result["state"]) == (1, "PIPELINE_STATE_FAILED"), done.stdout + done.stderr
    message = done.result["vertex_error"]["message"]
    assert "job-sa@demo.iam.gserviceaccount.com" in message
    assert '"bucket"' in message


WHOLE_JOB = f"""
displayName: train-{{{{scheduled_date}}}}
labels: {{team: ml}}
encryptionSpec: {{kmsKeyName: {KMS_KEY}}}
jobSpec:
  workerPoolSpecs:
    machineSpec: {{machineType: n1-standard-4}}
    replicaCount: 1
    containerSpec:
      imageUri: us-docker.pkg.dev/demo/r/train:1
      args: --day={{{{scheduled_date}}}}
  reservedIpRanges: vertex-range
"""


def test_a_whole_custom_job_spec_file_runs_with_cmek_network_and_gclouds_one_mapping_pool(
    fast: Emulator, tmp_path: Path
) -> None:
    """displayName/labels/encryptionSpec from the file, NETWORK from the env, one pool written as a mapping."""
    spec = tmp_path / "job.yaml"
    spec.write_text(WHOLE_JOB, encoding="utf-8")
    env = launcher_env(
        fast, tmp_path, image_uri=None, spec_file=str(spec), network=NETWORK, scheduled_time="2026-01-31T02:00:00Z"
    )
    done = run(env)
    assert (done.exit_code, done.result["state"]) == (0, "JOB_STATE_SUCCEEDED"), done.stdout + done.stderr
    job = fast.job_client().get_custom_job(name=done.result["job"])
    assert job.display_name == "train-2026-01-31"
    assert job.labels["team"] == "ml"
    assert job.encryption_spec.kms_key_name == KMS_KEY
    assert (job.job_spec.network, list(job.job_spec.reserved_ip_ranges)) == (NETWORK, ["vertex-range"])
    assert list(job.job_spec.worker_pool_specs[0].container_spec.args) == ["--day=2026-01-31"]
