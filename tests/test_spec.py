"""From settings to the exact create request: job specs, labels, placeholders, templates — all offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.pipelines import compile_pipeline
from vertex_launcher.errors import ConfigError
from vertex_launcher.settings import Settings
from vertex_launcher.spec import Run, build_request, describe_run, label_value, pipeline_job_id
from vertex_launcher.templates import make_loader, parse_template
from vertex_launcher.templating import Context, render
from vertex_launcher.vertex import canonical, create_request_json

NOW = datetime(2026, 11, 30, 18, 0, 7, tzinfo=UTC)
RUN = Run(
    key="3f1c2b9e-uid", schedule="nightly-train", namespace="ml", scheduled_time=datetime(2026, 1, 31, 2, 0, tzinfo=UTC)
)


@pytest.fixture(name="pipeline_file", scope="session")
def _pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_pipeline(tmp_path_factory.mktemp("kfp") / "pipeline.yaml")


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"region": "us-central1", "image_uri": "us-docker.pkg.dev/p/r/train:1"}
    return Settings(**{**base, **values})  # type: ignore[arg-type]


def custom_request(**values: object) -> dict[str, object]:
    request = build_request(settings(**values), RUN, project="proj", load_template=make_loader())
    return create_request_json(request)


# --- run identity -------------------------------------------------------------------------------------------------
def test_the_cronjob_job_name_gives_schedule_and_scheduled_time() -> None:
    """`nightly-29481960` → schedule `nightly`, time = 29481960 minutes after the epoch."""
    run = describe_run(settings(k8s_job_name="nightly-29481960", k8s_job_uid="uid-1"), NOW)
    assert (run.schedule, run.key, run.key_is_fresh) == ("nightly", "uid-1", False)
    assert run.scheduled_time == datetime.fromtimestamp(29481960 * 60, UTC)


def test_a_job_name_ending_in_epoch_seconds_is_not_read_as_a_schedule_slot() -> None:
    """`kubectl create job train-$(date +%s)` ends in seconds, not minutes: the whole name is the schedule."""
    run = describe_run(settings(k8s_job_name="train-1796083207"), NOW)
    assert run.schedule == "train-1796083207"
    assert run.scheduled_time == NOW.replace(microsecond=0)


def test_explicit_values_win_over_what_the_job_name_says() -> None:
    """SCHEDULE_NAME, RUN_KEY and SCHEDULED_TIME override the derived ones."""
    run = describe_run(
        settings(
            k8s_job_name="nightly-29481960",
            schedule_name="train",
            run_key="k",
            scheduled_time="2026-03-01T00:00:00+01:00",
        ),
        NOW,
    )
    assert (run.schedule, run.key) == ("train", "k")
    assert run.scheduled_time == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)


def test_without_kubernetes_the_run_gets_a_fresh_key_and_now() -> None:
    """`docker run` without a job name: a fresh key, flagged as such, and the current time."""
    run = describe_run(settings(), NOW)
    assert run.key_is_fresh
    assert run.scheduled_time == NOW.replace(microsecond=0)


# --- custom jobs ----------------------------------------------------------------------------------------------------
def test_a_custom_job_from_env_has_one_worker_pool_and_the_contract_labels() -> None:
    """IMAGE_URI & co become one worker pool; labels carry run, schedule and namespace."""
    body = custom_request(
        args=["--day={{scheduled_date}}"],
        env={"MODE": "full"},
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
        labels={"team": "ml"},
    )["customJob"]
    pool = body["jobSpec"]["workerPoolSpecs"][0]  # type: ignore[index]
    assert pool["machineSpec"] == {
        "machineType": "n1-standard-4",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 2,
    }
    assert pool["containerSpec"]["args"] == ["--day=2026-01-31"]
    assert pool["containerSpec"]["env"] == [{"name": "MODE", "value": "full"}]
    assert body["labels"] == {  # type: ignore[index]
        "team": "ml",
        "vertex-launcher-run": "3f1c2b9e-uid",
        "vertex-launcher-schedule": "nightly-train",
        "k8s-namespace": "ml",
    }
    assert body["displayName"] == "nightly-train-20260131-0200"  # type: ignore[index]


def test_a_spec_file_in_gcloud_config_format_passes_every_field_through(tmp_path: Path) -> None:
    """A CustomJobSpec YAML (camelCase, snake_case accepted) keeps scheduling, network, etc.; args are templated."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        """
workerPoolSpecs:
  - machineSpec: {machineType: a2-highgpu-1g, acceleratorType: NVIDIA_TESLA_A100, acceleratorCount: 1}
    replicaCount: 1
    container_spec:
      image_uri: us-docker.pkg.dev/p/r/train:2
      args: ["--as-of", "{{scheduled_time}}"]
scheduling: {timeout: 7200s, restartJobOnWorkerRestart: true}
network: projects/123/global/networks/vpc
baseOutputDirectory: {outputUriPrefix: gs://bucket/out}
persistentResourceId: pool-1
""",
        encoding="utf-8",
    )
    body = custom_request(image_uri=None, spec_file=str(spec), service_account="runner@p.iam.gserviceaccount.com")[
        "customJob"
    ]
    job_spec = body["jobSpec"]  # type: ignore[index]
    assert job_spec["workerPoolSpecs"][0]["containerSpec"]["args"] == ["--as-of", "2026-01-31T02:00:00Z"]
    assert job_spec["scheduling"] == {"timeout": "7200s", "restartJobOnWorkerRestart": True}
    assert job_spec["persistentResourceId"] == "pool-1"
    assert job_spec["serviceAccount"] == "runner@p.iam.gserviceaccount.com"


def test_a_spec_file_with_an_unknown_field_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A typo in the spec file fails offline, naming the field."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("workerPoolSpecs: []\nschedulling: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="schedulling"):
        custom_request(image_uri=None, spec_file=str(spec))


def test_label_values_from_labels_are_sanitised_too() -> None:
    """LABELS values such as an Argo node name (dots, brackets, uppercase) reach Vertex as valid label values."""
    body = custom_request(labels={"argo-node": "ML-Pipeline-x7k2p[0].Preprocess", "team": "ml"})["customJob"]
    labels = body["labels"]  # type: ignore[index]
    assert (labels["argo-node"], labels["team"]) == ("ml-pipeline-x7k2p-0--preprocess", "ml")


def test_label_values_are_sanitised_to_vertex_rules() -> None:
    """Uppercase, dots and long values become valid label values (≤ 63 chars, stable)."""
    assert label_value("Team.ML/Nightly") == "team-ml-nightly"
    long = label_value("x" * 100)
    assert len(long) == 63
    assert long == label_value("x" * 100)


# --- pipelines ------------------------------------------------------------------------------------------------------
def test_a_compiled_kfp_pipeline_becomes_a_pipeline_job(pipeline_file: Path) -> None:
    """KFP IR YAML → pipelineSpec; parameters templated; deterministic pipeline_job_id; root from PIPELINE_ROOT."""
    s = settings(
        job_type="pipeline",
        image_uri=None,
        pipeline_template=str(pipeline_file),
        pipeline_parameters={"day": "{{scheduled_date}}", "epochs": 5},
        pipeline_root="gs://bucket/runs",
        service_account="runner@p.iam.gserviceaccount.com",
    )
    rendered = create_request_json(build_request(s, RUN, project="proj", load_template=make_loader()))
    job = rendered["pipelineJob"]
    assert rendered["pipelineJobId"] == pipeline_job_id(RUN)
    assert job["runtimeConfig"] == {
        "parameterValues": {"day": "2026-01-31", "epochs": 5},
        "gcsOutputDirectory": "gs://bucket/runs",
    }
    assert job["pipelineSpec"]["pipelineInfo"]["name"] == "nightly-train"
    assert job["serviceAccount"] == "runner@p.iam.gserviceaccount.com"


def test_pipeline_job_ids_are_deterministic_and_valid() -> None:
    """Same run key → same id; the id matches Vertex's pattern."""
    import re

    assert pipeline_job_id(RUN) == pipeline_job_id(RUN)
    assert re.fullmatch(r"[a-z][-a-z0-9]{0,127}", pipeline_job_id(RUN))
    assert re.fullmatch(r"[a-z][-a-z0-9]{0,127}", pipeline_job_id(Run("k", "9-Daily", None, NOW)))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [({"dya": "x"}, r"unknown parameter\(s\) dya"), ({}, r"missing required parameter\(s\) day")],
)
def test_pipeline_parameters_are_checked_against_the_template(
    pipeline_file: Path, parameters: str, message: str
) -> None:
    """A misspelt or missing parameter is a config error before anything is sent."""
    s = settings(
        job_type="pipeline", image_uri=None, pipeline_template=str(pipeline_file), pipeline_parameters=parameters
    )
    with pytest.raises(ConfigError, match=message):
        build_request(s, RUN, project="proj", load_template=make_loader())


def test_the_older_json_job_format_is_read(pipeline_file: Path) -> None:
    """`{"pipelineSpec": ..., "runtimeConfig": ...}` (the pre-IR job JSON) is accepted with its runtime config."""
    import yaml

    spec = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))
    text = json.dumps({"pipelineSpec": spec, "runtimeConfig": {"gcsOutputDirectory": "gs://old/root"}})
    parsed_spec, runtime = parse_template(text, origin="job.json")
    assert parsed_spec["pipelineInfo"]["name"] == "nightly-train"
    assert runtime == {"gcsOutputDirectory": "gs://old/root"}


def test_an_artifact_registry_template_is_passed_as_template_uri() -> None:
    """`https://<region>-kfp.pkg.dev/...` goes to Vertex as template_uri, unread."""
    uri = "https://us-central1-kfp.pkg.dev/proj/repo/nightly/v1"
    s = settings(job_type="pipeline", image_uri=None, pipeline_template=uri, pipeline_root="gs://b/r")
    body = build_request(s, RUN, project="proj", load_template=make_loader()).body
    assert body["templateUri"] == uri
    canonical(build_request(s, RUN, project="proj", load_template=make_loader()))


def test_a_template_that_is_not_a_pipeline_is_rejected(tmp_path: Path) -> None:
    """Any YAML that is not compiled KFP is a config error naming the variable."""
    path = tmp_path / "x.yaml"
    path.write_text("hello: world\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="VERTEX_LAUNCHER_PIPELINE_TEMPLATE"):
        make_loader()(str(path))


# --- placeholders ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{scheduled_time}}", "2026-01-31T02:00:00Z"),
        ("{{ scheduled_date }}", "2026-01-31"),
        ("{{scheduled_time:%Y/%m/%d %H}}", "2026/01/31 02"),
        ("{{scheduled_epoch}}", "1769824800"),
        ("{{schedule_name}}-{{run_key}}", "nightly-train-3f1c2b9e-uid"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_placeholders_expand(text: str, expected: str) -> None:
    """Each documented placeholder expands to the run's value."""
    assert render(text, RUN.context, field="F") == expected


@pytest.mark.parametrize("text", ["{{schedule_time}}", "{{run_key:%Y}}", "{{scheduled_time", "a {{ }} b"])
def test_an_unknown_or_malformed_placeholder_is_a_config_error(text: str) -> None:
    """Strict: anything after `{{` that is not a known placeholder fails, naming the field."""
    with pytest.raises(ConfigError, match=r"^F: "):
        render(text, Context(RUN.scheduled_time, "k", "s"), field="F")
