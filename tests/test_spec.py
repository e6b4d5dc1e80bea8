"""From settings to the exact create request: job specs, labels, placeholders, templates — all offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.fake_registry import FakeRegistry
from tests.pipelines import compile_pipeline, compile_pipeline_with_defaults
from vertex_launcher.errors import AuthError, ConfigError, TransientApiError
from vertex_launcher.jobs import logs_url
from vertex_launcher.settings import Settings, load_settings
from vertex_launcher.spec import Run, build_request, describe_run, label_value, pipeline_job_id
from vertex_launcher.templates import make_loader, parse_template, registry_reader
from vertex_launcher.templating import Context, render
from vertex_launcher.vertex import canonical, create_request_json

KFP18_JOB = Path(__file__).resolve().parent / "fixtures" / "templates" / "kfp-1.8-nightly-train.json"
REGISTRY_URI = "https://us-central1-kfp.pkg.dev/proj/repo/nightly/v1"
NETWORK = "projects/123456789012/global/networks/vpc"
KMS_KEY = "projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key"

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


def pipeline_request(template: Path | str, **values: object) -> dict[str, Any]:
    """The rendered PipelineJob of a pipeline run from ``template`` (read the way a run reads it)."""
    s = settings(job_type="pipeline", image_uri=None, pipeline_template=str(template), **values)
    job: dict[str, Any] = create_request_json(build_request(s, RUN, project="proj", load_template=make_loader()))
    return job["pipelineJob"]  # type: ignore[no-any-return]


def spec_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


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
        "vertex-launcher-attempt": "1",
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


# --- whole CustomJob spec files, gcloud's shorthand, network and CMEK ---------------------------------------------
WHOLE_JOB = f"""
displayName: train-{{{{scheduled_date}}}}
labels: {{team: ml, version: 2}}
encryptionSpec: {{kmsKeyName: {KMS_KEY}}}
jobSpec:
  workerPoolSpecs:
    machineSpec: {{machineType: n1-standard-4}}
    replicaCount: 1
    containerSpec: {{imageUri: us-docker.pkg.dev/p/r/train:2, args: "--day={{{{scheduled_date}}}}"}}
  network: {NETWORK}
"""


def test_a_spec_file_may_be_a_whole_custom_job_with_labels_and_cmek(tmp_path: Path) -> None:
    """displayName (templated), labels and encryptionSpec come from the file; the run's labels are added."""
    body = custom_request(image_uri=None, spec_file=spec_file(tmp_path, WHOLE_JOB))["customJob"]
    assert body["displayName"] == "train-2026-01-31"  # type: ignore[index]
    assert body["labels"] == {  # type: ignore[index]
        "team": "ml",
        "version": "2",
        "vertex-launcher-run": "3f1c2b9e-uid",
        "vertex-launcher-schedule": "nightly-train",
        "vertex-launcher-attempt": "1",
        "k8s-namespace": "ml",
    }
    assert body["encryptionSpec"] == {"kmsKeyName": KMS_KEY}  # type: ignore[index]
    assert body["jobSpec"]["network"] == NETWORK  # type: ignore[index]


def test_worker_pools_written_as_one_mapping_are_one_pool_as_gcloud_reads_them(tmp_path: Path) -> None:
    """`workerPoolSpecs:` as a mapping (gcloud's own --config example) and `args:` as one string become lists."""
    body = custom_request(image_uri=None, spec_file=spec_file(tmp_path, WHOLE_JOB))["customJob"]
    [pool] = body["jobSpec"]["workerPoolSpecs"]  # type: ignore[index]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    assert pool["containerSpec"]["args"] == ["--day=2026-01-31"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"display_name": "other"}, "VERTEX_LAUNCHER_DISPLAY_NAME: differs from displayName"),
        ({"labels": {"team": "data"}}, "VERTEX_LAUNCHER_LABELS: team='data' differs from labels.team='ml'"),
        ({"network": "projects/1/global/networks/other"}, "VERTEX_LAUNCHER_NETWORK: .* differs from network"),
        (
            {"encryption_spec_key_name": KMS_KEY.removesuffix("/key") + "/other"},
            "VERTEX_LAUNCHER_ENCRYPTION_SPEC_KEY_NAME: .* differs from kmsKeyName",
        ),
    ],
)
def test_settings_that_contradict_the_spec_file_are_a_config_error(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    """An env setting and the file's value for the same field must agree (equal values are fine)."""
    with pytest.raises(ConfigError, match=message):
        custom_request(image_uri=None, spec_file=spec_file(tmp_path, WHOLE_JOB), **values)
    agreeing = {"display_name": "train-{{scheduled_date}}", "network": NETWORK, "encryption_spec_key_name": KMS_KEY}
    custom_request(image_uri=None, spec_file=spec_file(tmp_path, WHOLE_JOB), **agreeing)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobSpec: {workerPoolSpecs: []}\nlabels: {vertex-launcher-run: x}\n", "labels.vertex-launcher-run is set by"),
        ("jobSpec: {workerPoolSpecs: []}\nstate: JOB_STATE_RUNNING\n", "takes only displayName, jobSpec, labels"),
        ("jobSpec: {workerPoolSpecs: []}\nencryptionSpec: key\n", "encryptionSpec must be a mapping"),
    ],
)
def test_a_whole_custom_job_file_cannot_override_the_run_or_carry_output_fields(
    tmp_path: Path, text: str, message: str
) -> None:
    """Our run/schedule/namespace labels always win; output-only fields (state, name, ...) are refused."""
    with pytest.raises(ConfigError, match=message):
        custom_request(image_uri=None, spec_file=spec_file(tmp_path, text))


def test_network_reserved_ranges_and_cmek_settings_reach_the_right_custom_job_fields() -> None:
    """NETWORK/RESERVED_IP_RANGES go into jobSpec (CustomJobSpec), ENCRYPTION_SPEC_KEY_NAME into the CustomJob."""
    body = custom_request(network=NETWORK, reserved_ip_ranges=["vertex-range"], encryption_spec_key_name=KMS_KEY)[
        "customJob"
    ]
    assert (body["jobSpec"]["network"], body["jobSpec"]["reservedIpRanges"]) == (NETWORK, ["vertex-range"])  # type: ignore[index]
    assert body["encryptionSpec"] == {"kmsKeyName": KMS_KEY}  # type: ignore[index]


def test_network_reserved_ranges_and_cmek_settings_reach_the_pipeline_job(pipeline_file: Path) -> None:
    """A PipelineJob carries network, reservedIpRanges and encryptionSpec at its top level."""
    job = pipeline_request(
        pipeline_file,
        pipeline_parameters={"day": "x"},
        network=NETWORK,
        reserved_ip_ranges=["vertex-range"],
        encryption_spec_key_name=KMS_KEY,
    )
    assert (job["network"], job["reservedIpRanges"], job["encryptionSpec"]) == (
        NETWORK,
        ["vertex-range"],
        {"kmsKeyName": KMS_KEY},
    )


def test_reserved_ranges_without_a_network_are_a_config_error() -> None:
    """Reserved IP ranges live in a VPC network: without one they mean nothing."""
    with pytest.raises(ConfigError, match="VERTEX_LAUNCHER_RESERVED_IP_RANGES: reserved IP ranges need a network"):
        custom_request(reserved_ip_ranges=["vertex-range"])


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NETWORK", "projects/my-project/global/networks/vpc"),
        ("NETWORK", "vpc"),
        ("RESERVED_IP_RANGES", '["Not_A_Name"]'),
        ("RESERVED_IP_RANGES", "vertex-range"),
        ("ENCRYPTION_SPEC_KEY_NAME", "projects/p/keyRings/r/cryptoKeys/k"),
        ("ARTIFACT_REGISTRY_ENDPOINT", "http://10.0.0.5:8080"),
    ],
)
def test_network_cmek_and_registry_settings_are_validated(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Formats as Vertex documents them (a network names a project NUMBER); plaintext http only toward this machine."""
    monkeypatch.setenv("VERTEX_LAUNCHER_REGION", "us-central1")
    monkeypatch.setenv("VERTEX_LAUNCHER_IMAGE_URI", "img")
    monkeypatch.setenv(f"VERTEX_LAUNCHER_{variable}", value)
    with pytest.raises(ConfigError, match=f"^VERTEX_LAUNCHER_{variable}: "):
        load_settings()


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


def test_a_kfp_1_8_job_json_sends_typed_parameters_and_keeps_its_defaults() -> None:
    """Schema 2.0.0: runtimeConfig.parameters as typed Values, the template's own values as defaults, its root."""
    job = pipeline_request(KFP18_JOB, pipeline_parameters={"day": "{{scheduled_date}}", "epochs": 5})
    assert job["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://demo-bucket/kfp18-root",
        "parameters": {
            "day": {"stringValue": "2026-01-31"},
            "epochs": {"intValue": "5"},
            "learning_rate": {"doubleValue": 0.1},
        },
    }


def test_a_kfp_1_8_job_json_needs_only_the_parameters_it_has_no_value_for() -> None:
    """epochs and learning_rate have values in the template's runtimeConfig; only day is missing."""
    with pytest.raises(ConfigError, match=r"missing required parameter\(s\) day$"):
        pipeline_request(KFP18_JOB)


def test_a_job_json_with_values_for_undeclared_parameters_is_a_template_error(tmp_path: Path) -> None:
    """The SDK refuses a runtimeConfig value the spec does not declare; so does the launcher, naming the template."""
    data = json.loads(KFP18_JOB.read_text(encoding="utf-8"))
    data["runtimeConfig"]["parameters"]["epoch"] = {"intValue": "3"}
    path = tmp_path / "stray.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^VERTEX_LAUNCHER_PIPELINE_TEMPLATE: .*undeclared parameter\(s\) epoch$"):
        pipeline_request(path, pipeline_parameters={"day": "x"})


def test_old_schema_values_are_json_encoded_like_the_sdk_does() -> None:
    """A dict, list or bool for a STRING parameter goes as its JSON text (PipelineRuntimeConfigBuilder)."""
    job = pipeline_request(KFP18_JOB, pipeline_parameters={"day": {"from": "2026-01-01", "days": [1, 2]}})
    assert job["runtimeConfig"]["parameters"]["day"] == {"stringValue": '{"from": "2026-01-01", "days": [1, 2]}'}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"day": "x", "epochs": 1.5}, "parameter epochs must be an integer .*declared INT.*got 1.5"),
        ({"day": "x", "epochs": "five"}, "parameter epochs must be an integer"),
        ({"day": "x", "epochs": True}, "parameter epochs must be an integer .*got 'true'"),
        ({"day": "x", "learning_rate": "fast"}, "parameter learning_rate must be a number .*declared DOUBLE"),
        ({"day": 20260131}, "parameter day must be a string .*declared STRING"),
    ],
)
def test_old_schema_values_of_the_wrong_type_are_a_config_error(parameters: dict[str, Any], message: str) -> None:
    """Where the SDK's request would not even parse, the run stops first, naming the variable and parameter."""
    with pytest.raises(ConfigError, match=f"^VERTEX_LAUNCHER_PIPELINE_PARAMETERS: {message}"):
        pipeline_request(KFP18_JOB, pipeline_parameters=parameters)


def test_numeric_strings_are_typed_for_old_schemas_as_the_api_parses_them() -> None:
    """ "5" for an INT and "0.2" for a DOUBLE are what the REST JSON parser accepts too."""
    job = pipeline_request(KFP18_JOB, pipeline_parameters={"day": "x", "epochs": "5", "learning_rate": "0.2"})
    assert job["runtimeConfig"]["parameters"]["epochs"] == {"intValue": "5"}
    assert job["runtimeConfig"]["parameters"]["learning_rate"] == {"doubleValue": 0.2}


def test_a_kfp_v2_template_with_defaults_runs_without_parameters_and_gets_its_root(tmp_path: Path) -> None:
    """Schema 2.1.0: each parameter has a defaultValue (Vertex applies it); gcsOutputDirectory = defaultPipelineRoot."""
    job = pipeline_request(compile_pipeline_with_defaults(tmp_path / "defaults.yaml"))
    assert job["runtimeConfig"] == {"gcsOutputDirectory": "gs://demo-bucket/root"}


def test_v2_values_of_a_kind_the_kfp_driver_refuses_are_a_config_error(tmp_path: Path) -> None:
    """A string for a NUMBER_INTEGER is refused (Vertex would fail the run); a STRING parameter takes any value."""
    template = compile_pipeline_with_defaults(tmp_path / "defaults.yaml")
    with pytest.raises(ConfigError, match=r"parameter epochs must be a number .*declared NUMBER_INTEGER.*'three'"):
        pipeline_request(template, pipeline_parameters={"epochs": "three"})
    with pytest.raises(ConfigError, match="parameter tags must be a JSON list"):
        pipeline_request(template, pipeline_parameters={"tags": "nightly"})
    job = pipeline_request(template, pipeline_parameters={"day": 20260131, "dry_run": True, "options": {}})
    assert job["runtimeConfig"]["parameterValues"] == {"day": 20260131, "dry_run": True, "options": {}}


def test_the_pipeline_root_comes_from_pipeline_root_then_default_root_then_the_old_runtime_config(
    tmp_path: Path,
) -> None:
    """The SDK's order: PIPELINE_ROOT, the spec's defaultPipelineRoot, the older JSON's gcsOutputDirectory."""
    data = json.loads(KFP18_JOB.read_text(encoding="utf-8"))
    data["pipelineSpec"]["defaultPipelineRoot"] = "gs://default/root"
    both = tmp_path / "both.json"
    both.write_text(json.dumps(data), encoding="utf-8")
    params = {"day": "x"}
    assert pipeline_request(both, pipeline_parameters=params)["runtimeConfig"]["gcsOutputDirectory"] == (
        "gs://default/root"
    )
    assert pipeline_request(both, pipeline_parameters=params, pipeline_root="gs://set/root")["runtimeConfig"][
        "gcsOutputDirectory"
    ] == ("gs://set/root")


def test_without_any_pipeline_root_the_error_names_both_places(tmp_path: Path) -> None:
    """No PIPELINE_ROOT and no defaultPipelineRoot: one error naming the variable and the template field."""
    template = compile_pipeline_with_defaults(tmp_path / "no-root.yaml", pipeline_root=None)
    with pytest.raises(ConfigError, match=r"^VERTEX_LAUNCHER_PIPELINE_ROOT: .*defaultPipelineRoot"):
        pipeline_request(template)


def test_an_artifact_registry_template_is_read_and_still_sent_as_template_uri(pipeline_file: Path) -> None:
    """With a registry reader (a run), the spec is checked and sent, and templateUri names the registry."""
    reads: list[str] = []

    def read(uri: str) -> str:
        reads.append(uri)
        return pipeline_file.read_text(encoding="utf-8")

    s = settings(job_type="pipeline", image_uri=None, pipeline_template=REGISTRY_URI, pipeline_parameters={"day": "x"})
    job = canonical(build_request(s, RUN, project="proj", load_template=make_loader(read_registry=read)))
    assert (reads, job["templateUri"], job["pipelineSpec"]["pipelineInfo"]["name"]) == (
        [REGISTRY_URI],
        REGISTRY_URI,
        "nightly-train",
    )
    assert job["runtimeConfig"] == {"gcsOutputDirectory": "gs://bucket/root", "parameterValues": {"day": "x"}}
    bad = settings(job_type="pipeline", image_uri=None, pipeline_template=REGISTRY_URI, pipeline_parameters={"x": 1})
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_request(bad, RUN, project="proj", load_template=make_loader(read_registry=read))


def token_credentials(token: str) -> Any:
    """google-auth credentials holding a fixed, valid access token."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)  # type: ignore[no-untyped-call]


@pytest.fixture(name="registry")
def _registry(pipeline_file: Path) -> Any:
    with FakeRegistry(accepts=lambda token: token == "good-token") as registry:
        registry.templates["/proj/repo/nightly/v1"] = pipeline_file.read_bytes()
        yield registry


def test_the_registry_download_carries_the_runs_bearer_token(registry: FakeRegistry) -> None:
    """Artifact Registry is read with the run's credentials, as the SDK's _load_yaml_from_https_uri does."""
    text = registry_reader(token_credentials("good-token"), registry.url)(REGISTRY_URI)
    assert "nightly-train" in text
    assert [(r.path, r.bearer) for r in registry.requests] == [("/proj/repo/nightly/v1", "good-token")]


@pytest.mark.parametrize(
    ("token", "uri", "error", "message"),
    [
        ("bad-token", REGISTRY_URI, AuthError, "artifactregistry.repositories.downloadArtifacts"),
        ("good-token", REGISTRY_URI.replace("/v1", "/v9"), ConfigError, "does not exist .*HTTP 404"),
    ],
)
def test_registry_refusals_say_what_is_wrong(
    registry: FakeRegistry, token: str, uri: str, error: type[Exception], message: str
) -> None:
    """403 → an auth error naming the permission (exit 3); 404 → a configuration error (exit 2)."""
    with pytest.raises(error, match=f"^VERTEX_LAUNCHER_PIPELINE_TEMPLATE: .*{message}"):
        registry_reader(token_credentials(token), registry.url)(uri)


def test_registry_outages_are_transient(registry: FakeRegistry) -> None:
    """A 503 or no answer at all is worth a retry (exit 5), not a configuration error."""
    registry.outage = True
    with pytest.raises(TransientApiError, match="HTTP 503"):
        registry_reader(token_credentials("good-token"), registry.url)(REGISTRY_URI)
    with pytest.raises(TransientApiError, match="could not download"):
        registry_reader(token_credentials("good-token"), "http://127.0.0.1:9")(REGISTRY_URI)


def test_render_of_a_remote_template_stays_offline_and_says_what_the_run_fills_in() -> None:
    """render: templateUri, a marked placeholder spec, and the root the run takes from the template."""
    s = settings(job_type="pipeline", image_uri=None, pipeline_template=REGISTRY_URI)
    job = create_request_json(build_request(s, RUN, project="proj", load_template=make_loader()))["pipelineJob"]
    assert job["templateUri"] == REGISTRY_URI
    assert job["pipelineSpec"]["_fetchedAtRunTimeFrom"] == REGISTRY_URI
    assert "defaultPipelineRoot" in job["runtimeConfig"]["gcsOutputDirectory"]


def test_pipeline_logs_links_filter_like_the_console() -> None:
    """The PipelineJob monitored resource and its pipeline_job_id label."""
    url = logs_url("pipeline", "projects/p/locations/us-central1/pipelineJobs/nightly-abc")
    from urllib.parse import unquote

    assert unquote(url).split("query=")[1].split("?")[0] == (
        'resource.type="aiplatform.googleapis.com/PipelineJob"\nresource.labels.pipeline_job_id="nightly-abc"'
    )


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
