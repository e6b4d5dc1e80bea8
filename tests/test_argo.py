"""The launcher as an Argo Workflows step (k8s/argo): what the manifests promise, and the steps run as Argo runs them.

Schema: every Argo object against Argo's own API (hera's models, unknown fields fail), every other object and
the launcher pod Argo would build against the Kubernetes schemas. Behaviour: a step resolved with the variables
Argo gives it, the real launcher process with that container's environment against the emulator, the output
parameters read from the files it leaves (tests/argo.py says what of Argo is reproduced and from where).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.argo import (
    Argo,
    ArgoError,
    Doc,
    StepResult,
    Workflow,
    find,
    launcher_pod,
    render,
    resolve,
    retried,
    schema_problems,
    substitute,
    template_of,
)
from tests.emulator.jobs import pipeline_spec
from tests.fixtures.emulator import Emulator
from tests.fixtures.fake_google import FakeMetadataServer
from tests.fixtures.fake_registry import FakeRegistry
from vertex_launcher.jobs import ATTEMPT_LABEL, RUN_LABEL, SCHEDULE_LABEL
from vertex_launcher.outputs import FIELDS, RESULT_FILE
from vertex_launcher.result import ExitCode
from vertex_launcher.settings import PREFIX, setting_names
from vertex_launcher.spec import label_value

REPO = Path(__file__).resolve().parent.parent
#: Seconds the launcher needs on top of CANCEL_GRACE_SECONDS after SIGTERM (as tests/test_manifests.py).
SHUTDOWN_MARGIN = 15
WORKFLOW = Workflow(name="ml-training-x7k2p", uid="0b6e3c52-8f1d-4c1e-9a3b-5d2f7e9c1a40")
SPEC = "workerPoolSpecs:\n  - machineSpec: {machineType: n1-standard-4}\n    replicaCount: 1\n"
SPEC += "    containerSpec: {imageUri: us-docker.pkg.dev/demo/r/train:1, args: ['--day', '{{scheduled_date}}']}\n"


@pytest.fixture(name="docs", scope="module")
def _docs() -> tuple[Doc, ...]:
    return render()


@pytest.fixture(name="launch", scope="module")
def _launch(docs: tuple[Doc, ...]) -> Doc:
    return template_of(docs, "vertex-launcher", "launch")


@pytest.fixture(name="fast")
def _fast(emulator: Emulator) -> Emulator:
    """The shared emulator with a quick lifecycle: ~0.5 s queued+pending, ~1 s running."""
    emulator.configure(time_scale=10.0, queued_seconds=2, pending_seconds=3, run_seconds=10, cancel_seconds=2)
    return emulator


@pytest.fixture(name="argo")
def _argo(docs: tuple[Doc, ...], fast: Emulator, tmp_path: Path) -> Argo:
    return Argo(docs, fast, tmp_path)


#: The training pipeline the example DAG names in Artifact Registry, as the registry serves it (KFP v2 IR).
TRAIN_TEMPLATE_PATH = "/my-project/pipelines/train/v3"


@pytest.fixture(name="argo_with_registry")
def _argo_with_registry(docs: tuple[Doc, ...], fast: Emulator, tmp_path: Path) -> Iterator[Argo]:
    """Steps with Workload Identity's ADC (a fake metadata server) and the example's Artifact Registry template: the
    launcher downloads it with the step's token, as it would in the cluster."""
    spec = pipeline_spec("train-model")
    spec["pipelineInfo"]["name"] = "train"
    spec["root"]["inputDefinitions"]["parameters"] = {
        "features": {"parameterType": "STRING"},
        "preprocess_job": {"parameterType": "STRING"},
    }
    with FakeMetadataServer(project_id="my-project") as mds, FakeRegistry(accepts=lambda t: t in mds.issued) as ar:
        ar.templates[TRAIN_TEMPLATE_PATH] = json.dumps(spec).encode()
        overrides = {
            "VERTEX_LAUNCHER_CREDENTIALS": "adc",
            "GCE_METADATA_HOST": mds.host,
            "GCE_METADATA_IP": mds.host,
            "VERTEX_LAUNCHER_ARTIFACT_REGISTRY_ENDPOINT": ar.url,
        }
        yield Argo(docs, fast, tmp_path, overrides=overrides)


def _env(launch: Doc, **arguments: str) -> dict[str, str]:
    resolved = resolve(launch, {"schedule": "nightly", **arguments}, WORKFLOW, node=f"{WORKFLOW.name}.train")
    return {item["name"]: item.get("value", "") for item in resolved.template["container"]["env"]}


def _base_cronjob_pod() -> Doc:
    cronjob = find(render(REPO / "k8s" / "base"), "CronJob", "vertex-launcher")
    pod: Doc = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


# ----- schema -------------------------------------------------------------------------------------------------------


def test_every_object_matches_argos_schema_or_the_kubernetes_schemas(docs: tuple[Doc, ...]) -> None:
    """WorkflowTemplates, CronWorkflow by Argo's API; SA, Secret, RBAC, ConfigMap, launcher pod by Kubernetes'."""
    kinds = {doc["kind"] for doc in docs}
    assert {"WorkflowTemplate", "CronWorkflow", "ServiceAccount", "Role", "RoleBinding", "Secret"} <= kinds
    assert schema_problems(docs) == []
    assert "{{=" not in json.dumps(docs)  # expression tags: tests/argo.py substitutes simple tags only


@pytest.mark.parametrize(
    ("where", "mistake", "reported"),
    [
        ("template", {"retryStratgy": {"limit": "2"}}, "unknown field spec.templates[0].retryStratgy"),
        ("container", {"imagePullPolcy": "Always"}, "unknown field spec.templates[0].container.imagePullPolcy"),
        ("retry", {"limt": "2"}, "unknown field spec.templates[0].retryStrategy.limt"),
        ("template", {"activeDeadlineSeconds": [1]}, "spec.templates.0.activeDeadlineSeconds"),
    ],
)
def test_a_misspelt_or_mistyped_argo_field_is_caught(launch: Doc, where: str, mistake: Doc, reported: str) -> None:
    """hera's models would drop an unknown field silently; the round trip check names it (and bad types too)."""
    template = copy.deepcopy(launch)
    target = {"template": template, "container": template["container"], "retry": template["retryStrategy"]}[where]
    target.update(mistake)
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "x"}}
    problems = schema_problems(({**doc, "spec": {"templates": [template]}},))
    assert any(reported in problem for problem in problems), problems


def test_a_misspelt_pod_field_in_the_pod_spec_patch_is_caught(launch: Doc) -> None:
    """podSpecPatch is a string to Argo's schema; the pod Argo would build from it is held to Kubernetes' schema."""
    template = {**launch, "podSpecPatch": "terminationGracePeriodSecond: 60\n"}
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "x"}}
    problems = schema_problems(({**doc, "spec": {"templates": [template]}},), versions=("1.33",))
    assert any("terminationGracePeriodSecond" in problem for problem in problems), problems


# ----- what the manifests promise -----------------------------------------------------------------------------------


def test_the_launcher_pod_is_hardened_exactly_like_the_cronjobs(launch: Doc) -> None:
    """Same pod and container security context, resources, grace period; no service links, no Kubernetes token."""
    pod = launcher_pod(launch, namespace="vertex-launcher")["spec"]
    cron = _base_cronjob_pod()
    [cron_container] = cron["containers"]
    [container] = pod["containers"]
    assert pod["securityContext"] == cron["securityContext"]
    assert container["securityContext"] == cron_container["securityContext"]
    assert container["resources"] == cron_container["resources"]
    assert pod["terminationGracePeriodSeconds"] == cron["terminationGracePeriodSeconds"]
    assert (pod["enableServiceLinks"], pod["automountServiceAccountToken"]) == (False, False)
    assert pod["serviceAccountName"] == "vertex-launcher"
    assert pod["nodeSelector"] == {"iam.gke.io/gke-metadata-server-enabled": "true"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert all("emptyDir" in volumes[mount["name"]] for mount in container["volumeMounts"])
    assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}


def test_argos_own_containers_get_a_token_that_can_only_report_task_results(docs: tuple[Doc, ...], launch: Doc) -> None:
    """executor.serviceAccountName names an account whose token Secret Argo finds by name and whose Role is minimal."""
    executor = launch["executor"]["serviceAccountName"]
    secret = find(docs, "Secret", f"{executor}.service-account-token")
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": executor}
    binding = find(docs, "RoleBinding", executor)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": executor, "namespace": "vertex-launcher"}]
    role = find(docs, "Role", binding["roleRef"]["name"])
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]
    accounts = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert all(account["automountServiceAccountToken"] is False for account in accounts)
    launcher = find(docs, "ServiceAccount", launch["serviceAccountName"])
    assert launcher["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")


def test_the_grace_period_and_deadline_sit_above_the_launchers_budgets(docs: tuple[Doc, ...], launch: Doc) -> None:
    """After SIGTERM: CANCEL_GRACE_SECONDS + 15 s fit; activeDeadlineSeconds stays a backstop behind TIMEOUT_SECONDS."""
    config = find(docs, "ConfigMap", "vertex-launcher-argo")["data"]
    cancel = float(config[f"{PREFIX}CANCEL_GRACE_SECONDS"])
    grace = yaml.safe_load(launch["podSpecPatch"])["terminationGracePeriodSeconds"]
    assert grace > cancel + SHUTDOWN_MARGIN
    assert launch["activeDeadlineSeconds"] > float(config[f"{PREFIX}TIMEOUT_SECONDS"]) + cancel + SHUTDOWN_MARGIN


def test_every_launcher_variable_of_a_step_is_a_real_setting(docs: tuple[Doc, ...], launch: Doc) -> None:
    """The ConfigMap and the template's env name only settings; the template leaves no Argo variable unresolved."""
    names = set(find(docs, "ConfigMap", "vertex-launcher-argo")["data"]) | set(_env(launch, spec=SPEC))
    assert {name for name in names if name.startswith(PREFIX)} <= set(setting_names())


def test_the_output_parameters_are_the_files_the_launcher_writes(launch: Doc) -> None:
    """One output per result field and one for result.json, each read from OUTPUTS_DIR, which is a volume."""
    outputs_dir = _env(launch)[f"{PREFIX}OUTPUTS_DIR"]
    paths = {output["name"]: output["valueFrom"]["path"] for output in launch["outputs"]["parameters"]}
    assert paths == {**{name: f"{outputs_dir}/{name}" for name in FIELDS}, "result": f"{outputs_dir}/{RESULT_FILE}"}
    assert outputs_dir in {mount["mountPath"] for mount in launch["container"]["volumeMounts"]}


def test_only_the_retryable_exit_code_is_retried(launch: Doc) -> None:
    """retryStrategy: exit 5 (transient trouble outlasted the launcher's retries) and nothing else."""
    assert [code for code in ExitCode if retried(launch, int(code))] == [ExitCode.TRANSIENT]
    assert not retried(launch, 137)


def test_the_run_key_is_the_same_for_every_attempt_and_differs_between_steps_and_runs(launch: Doc) -> None:
    """workflow.uid + node.name: a retry (new pod name, next `retries`) keeps it; another step or run changes it."""
    arguments = {"schedule": "nightly", "spec": SPEC}

    def key(workflow: Workflow, node: str, attempt: int) -> tuple[str, str]:
        resolved = resolve(launch, arguments, workflow, node=node, attempt=attempt)
        env = {item["name"]: item.get("value") for item in resolved.template["container"]["env"]}
        return str(env[f"{PREFIX}RUN_KEY"]), resolved.pod

    first, first_pod = key(WORKFLOW, "ml-training-x7k2p.train", 0)
    again, again_pod = key(WORKFLOW, "ml-training-x7k2p.train", 1)
    assert (first, first_pod != again_pod) == (again, True)
    assert first == f"{WORKFLOW.uid}.ml-training-x7k2p.train"
    assert key(WORKFLOW, "ml-training-x7k2p.evaluate", 0)[0] != first
    rerun = Workflow(name=WORKFLOW.name, uid="5a1f9d0e-2b7c-4e3a-8f6d-1c9b0a2e4d77")
    assert key(rerun, "ml-training-x7k2p.train", 0)[0] != first


def test_every_step_of_the_examples_refers_to_the_launch_template_with_its_inputs(docs: tuple[Doc, ...]) -> None:
    """Each templateRef resolves; arguments name only inputs; every input without a default is given."""
    steps: list[Doc] = []
    dag = find(docs, "WorkflowTemplate", "ml-training")["spec"]["templates"]
    steps += [task for template in dag for task in template.get("dag", {}).get("tasks", [])]
    cron = find(docs, "CronWorkflow", "nightly-training")["spec"]["workflowSpec"]["templates"]
    steps += [step for template in cron for group in template.get("steps", []) for step in group]
    assert len(steps) == 4
    for step in steps:
        reference = step["templateRef"]
        template = template_of(docs, reference["name"], reference["template"])
        inputs = {p["name"]: p for p in template["inputs"]["parameters"]}
        given = {p["name"] for p in step["arguments"]["parameters"]}
        assert given <= set(inputs), step["name"]
        assert {name for name, p in inputs.items() if "default" not in p} <= given, step["name"]


def test_the_cronworkflow_hands_its_scheduled_time_to_the_launcher(docs: tuple[Doc, ...]) -> None:
    """scheduled-time = {{workflow.scheduledTime}}, so {{scheduled_date}} names the slot; overlapping runs forbidden."""
    cron = find(docs, "CronWorkflow", "nightly-training")["spec"]
    [[step]] = cron["workflowSpec"]["templates"][0]["steps"]
    arguments = {p["name"]: p["value"] for p in step["arguments"]["parameters"]}
    assert arguments["scheduled-time"] == "{{workflow.scheduledTime}}"
    assert cron["concurrencyPolicy"] == "Forbid"


# ----- steps run as Argo runs them ----------------------------------------------------------------------------------


def _one(results: list[StepResult]) -> StepResult:
    assert len(results) == 1, [r.exit_code for r in results]
    return results[0]


def test_a_step_runs_as_argo_would_and_its_outputs_are_the_result(argo: Argo, launch: Doc, fast: Emulator) -> None:
    """A CustomJob step: exit 0; the output parameters are the result; the job carries the Argo labels."""
    result = _one(argo.run(launch, {"schedule": "nightly", "spec": SPEC}, WORKFLOW, node=f"{WORKFLOW.name}.train"))
    assert result.exit_code == 0, result.finished.stderr
    record = json.loads(result.outputs["result"])
    assert record == json.loads(result.step.host("/dev/termination-log").read_text(encoding="utf-8"))
    assert record.items() <= result.finished.result.items()
    assert {name: result.outputs[name] for name in FIELDS} == {
        "outcome": "succeeded",
        "job": record["job"],
        "state": "JOB_STATE_SUCCEEDED",
        "exit_code": "0",
        "console_url": record["console_url"],
    }
    assert record["console_url"].startswith("https://console.cloud.google.com/vertex-ai/")
    [job] = fast.jobs()
    assert job["name"] == record["job"]
    assert job["display_name"] == f"{WORKFLOW.name}.train"
    assert job["labels"] == {
        RUN_LABEL: label_value(f"{WORKFLOW.uid}.{WORKFLOW.name}.train"),
        SCHEDULE_LABEL: "nightly",
        ATTEMPT_LABEL: "1",
        "k8s-namespace": "vertex-launcher",
        "argo-workflow": WORKFLOW.name,
        "argo-workflow-uid": WORKFLOW.uid,
        "argo-node": "ml-training-x7k2p-train",
    }
    [create] = fast.requests("CreateCustomJob")
    assert create["code"] == "OK"


def test_a_retried_step_reattaches_to_the_first_attempts_job(
    docs: tuple[Doc, ...], fast: Emulator, tmp_path: Path, launch: Doc
) -> None:
    """Attempt 0 gives up with exit 5 after creating the job; Argo retries (new pod); attempt 1 finds it: one job."""
    fast.configure(run_seconds=30)
    # At most ~6 GETs fit in attempt 0's 1 s transient budget (backoff from 0.1 s); the rest fail attempt 1's first
    # GETs, which it retries within the manifest's own budget.
    fast.add_fault(method="GetCustomJob", nth=1, count=10, code="UNAVAILABLE")
    arguments, node = {"schedule": "nightly", "spec": SPEC}, f"{WORKFLOW.name}.train"
    impatient = Argo(docs, fast, tmp_path, overrides={f"{PREFIX}TRANSIENT_RETRY_SECONDS": "1"})
    first = impatient.step(launch, arguments, WORKFLOW, node=node, attempt=0).start().finish()
    assert (first.exit_code, first.outputs["outcome"], first.outputs["exit_code"]) == (5, "error", "5")
    assert first.outputs["job"].startswith("projects/my-project/locations/us-central1/customJobs/")
    assert retried(launch, first.exit_code)
    second = Argo(docs, fast, tmp_path).step(launch, arguments, WORKFLOW, node=node, attempt=1).start().finish()
    assert first.step.resolved.pod != second.step.resolved.pod
    assert first.step.env[f"{PREFIX}RUN_KEY"] == second.step.env[f"{PREFIX}RUN_KEY"]
    assert second.exit_code == 0, second.finished.stderr
    assert json.loads(second.outputs["result"])["reattached"] is True
    assert len(fast.requests("CreateCustomJob")) == 1
    [job] = fast.jobs()
    assert second.outputs["job"] == first.outputs["job"] == job["name"]


def test_stopping_the_workflow_cancels_the_vertex_job_and_still_writes_the_outputs(
    argo: Argo, launch: Doc, fast: Emulator
) -> None:
    """`argo stop` SIGTERMs the step: the launcher cancels the job, exits 143 and leaves its outputs."""
    fast.configure(run_seconds=600)
    step = argo.step(launch, {"schedule": "nightly", "spec": SPEC}, WORKFLOW, node=f"{WORKFLOW.name}.train").start()
    deadline = time.monotonic() + 60
    while not any(job["state"] == "JOB_STATE_RUNNING" for job in fast.jobs()):
        assert time.monotonic() < deadline, "the job never started running"
        time.sleep(0.1)
    step.terminate()
    result = step.finish()
    assert result.exit_code == 143
    assert (result.outputs["outcome"], result.outputs["exit_code"]) == ("cancelled", "143")
    record = json.loads(result.outputs["result"])
    assert (record["stopped_by"], record["cancel_confirmed"]) == ("SIGTERM", True)
    [job] = fast.jobs()
    assert job["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    assert not retried(launch, result.exit_code)


def test_a_configuration_error_fails_the_step_once_with_exit_2_and_outputs(
    argo: Argo, launch: Doc, fast: Emulator
) -> None:
    """A custom step without a spec: exit 2, not retried, nothing submitted, outcome error in the outputs."""
    result = _one(argo.run(launch, {"schedule": "nightly"}, WORKFLOW, node=f"{WORKFLOW.name}.train"))
    assert (result.exit_code, result.outputs["outcome"], result.outputs["job"]) == (2, "error", "")
    assert "VERTEX_LAUNCHER_SPEC_FILE" in result.finished.stderr
    assert fast.requests("CreateCustomJob") == []


def test_the_same_step_runs_the_preflight_when_asked(launch: Doc) -> None:
    """command=doctor runs `vertex-launcher doctor` with the step's identity and inputs; anything else is refused."""
    resolved = resolve(launch, {"schedule": "nightly", "spec": SPEC, "command": "doctor"}, WORKFLOW, node="x")
    assert resolved.template["container"]["args"] == ["doctor"]
    assert resolve(launch, {"schedule": "nightly"}, WORKFLOW, node="x").template["container"]["args"] == ["run"]
    with pytest.raises(ArgoError, match="is not one of"):
        resolve(launch, {"schedule": "nightly", "command": "emulator"}, WORKFLOW, node="x")


def test_an_input_without_a_default_must_be_given(launch: Doc) -> None:
    """Argo refuses a step without `schedule` (it has no default) before any pod exists."""
    with pytest.raises(ArgoError, match=r"inputs\.parameters\.schedule was not supplied"):
        resolve(launch, {"spec": SPEC}, WORKFLOW, node="x.train")


def test_the_example_dag_passes_each_jobs_output_to_the_next_step(argo_with_registry: Argo, fast: Emulator) -> None:
    """preprocess (CustomJob) → train (PipelineJob with the first job's name and data) → evaluate (the pipeline's)."""
    done = argo_with_registry.run_dag("ml-training", WORKFLOW)
    results = {name: result for name, result in done.items() if isinstance(result, StepResult)}
    assert sorted(results) == ["evaluate", "preprocess", "train"], done
    assert all(result.exit_code == 0 for result in results.values()), {n: r.finished.stderr for n, r in results.items()}
    preprocess, train, evaluate = (results[name].outputs for name in ("preprocess", "train", "evaluate"))
    assert (train["state"], evaluate["state"]) == ("PIPELINE_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED")
    pipeline = fast.pipeline_client().get_pipeline_job(name=train["job"])
    assert dict(pipeline.runtime_config.parameter_values) == {
        "features": f"gs://my-project-ml/runs/{WORKFLOW.uid}/features",
        "preprocess_job": preprocess["job"],
    }
    scoring = fast.job_client().get_custom_job(name=evaluate["job"])
    assert list(scoring.job_spec.worker_pool_specs[0].container_spec.args)[:2] == ["--pipeline-job", train["job"]]
    assert len({job["labels"][RUN_LABEL] for job in fast.jobs()}) == 3


def test_a_failed_first_job_stops_the_dag(argo: Argo, fast: Emulator) -> None:
    """preprocess fails (exit 1): train and evaluate never run, no PipelineJob is created."""
    fast.configure(rules=[{"filter": 'labels.argo-node="ml-training-x7k2p-preprocess"', "outcome": "failed"}])
    done = argo.run_dag("ml-training", WORKFLOW)
    preprocess = done["preprocess"]
    assert isinstance(preprocess, StepResult)
    assert (preprocess.exit_code, preprocess.outputs["outcome"]) == (1, "failed")
    assert (done["train"], done["evaluate"]) == ("Omitted", "Omitted")
    assert fast.requests("CreatePipelineJob") == []


def test_a_skipped_step_does_not_feed_an_empty_job_onward(argo: Argo, fast: Emulator, launch: Doc) -> None:
    """A step skipped by CONCURRENCY_POLICY=Forbid exits 0 with outcome skipped: `when` skips the next ones."""
    fast.configure(run_seconds=600)
    other_run = Workflow(name="ml-training-older", uid="9c3d1e7a-6b2f-4d8e-a1c5-7e0f3b9d2a64")
    blocker = argo.step(
        launch, {"schedule": "ml-training-preprocess", "spec": SPEC}, other_run, node="older.preprocess"
    )
    blocker.start()
    try:
        deadline = time.monotonic() + 60
        while not fast.jobs():
            assert time.monotonic() < deadline, "the blocking job was never created"
            time.sleep(0.1)
        done = argo.run_dag("ml-training", WORKFLOW)
    finally:
        blocker.terminate()
        blocker.finish()
    preprocess = done["preprocess"]
    assert isinstance(preprocess, StepResult)
    assert (preprocess.exit_code, preprocess.outputs["outcome"], preprocess.outputs["job"]) == (0, "skipped", "")
    assert (done["train"], done["evaluate"]) == ("Skipped", "Omitted")


def test_the_cronworkflow_step_names_its_job_after_the_scheduled_slot(
    argo: Argo, docs: tuple[Doc, ...], fast: Emulator
) -> None:
    """{{workflow.scheduledTime}} is SCHEDULED_TIME; the launcher's own {{scheduled_time:%Y%m%d}} passes Argo intact."""
    cron = find(docs, "CronWorkflow", "nightly-training")["spec"]["workflowSpec"]
    [[step]] = cron["templates"][0]["steps"]
    workflow = Workflow(
        name="nightly-training-1769823000",
        uid="2f8a4c6e-1d3b-4a5c-9e7f-0b2d4f6a8c1e",
        scheduled_time="2026-01-31T01:30:00Z",
    )
    step = substitute(step, workflow.variables())  # the steps template's own substitution of its arguments
    arguments = {p["name"]: p["value"] for p in step["arguments"]["parameters"]}
    template = template_of(docs, step["templateRef"]["name"], step["templateRef"]["template"])
    result = _one(argo.run(template, arguments, workflow, node=f"{workflow.name}[0].train"))
    assert result.exit_code == 0, result.finished.stderr
    job = fast.job_client().get_custom_job(name=result.outputs["job"])
    assert job.display_name == "nightly-training-20260131"
    assert list(job.job_spec.worker_pool_specs[0].container_spec.args)[:2] == ["--day", "2026-01-31"]


def test_docs_argo_md_names_every_input_and_output_of_the_step(launch: Doc) -> None:
    """docs/argo.md's tables cannot drift from the template: each input and output appears there as `name`."""
    docs = (REPO / "docs" / "argo.md").read_text(encoding="utf-8")
    names = [p["name"] for p in launch["inputs"]["parameters"]] + [p["name"] for p in launch["outputs"]["parameters"]]
    assert [name for name in names if f"| `{name}` |" not in docs] == []
    assert "{{workflow.uid}}.{{node.name}}" in docs
