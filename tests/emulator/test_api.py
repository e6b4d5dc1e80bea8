"""JobService and PipelineService, driven by the real GAPIC clients over both transports (gRPC and REST).

Over REST the client raises the HTTP parents of the gRPC classes (BadRequest for INVALID_ARGUMENT and
FAILED_PRECONDITION, Conflict for ALREADY_EXISTS), so the assertions name those.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud.aiplatform_v1 import JobState, PipelineState, PipelineTaskDetail

from tests.emulator.jobs import PARENT, custom_job, pipeline_job
from tests.fixtures.emulator import Emulator

FOREVER = 1e9


@pytest.fixture(name="pipelines")
def _pipelines(emulator: Emulator, transport: str) -> Any:
    return emulator.pipeline_client(transport)


def test_create_returns_a_queued_job_with_a_numeric_id_under_the_parent(jobs: Any, emulator: Emulator) -> None:
    """Like Vertex: projects/{project}/locations/{loc}/customJobs/{number}, QUEUED, create_time set."""
    emulator.configure(queued_seconds=FOREVER)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"team": "ml"}))
    prefix, _, job_id = job.name.rpartition("/")
    assert prefix == f"{PARENT}/customJobs"
    assert job_id.isdigit()
    assert job.state == JobState.JOB_STATE_QUEUED
    assert job.create_time.timestamp() > 0
    assert job.labels["team"] == "ml"
    assert job.job_spec.worker_pool_specs[0].container_spec.image_uri == "us-docker.pkg.dev/demo/train:1"


@pytest.mark.parametrize(
    ("durations", "state"),
    [
        ({"queued_seconds": FOREVER}, JobState.JOB_STATE_QUEUED),
        ({"queued_seconds": 0, "pending_seconds": FOREVER}, JobState.JOB_STATE_PENDING),
        ({"queued_seconds": 0, "pending_seconds": 0, "run_seconds": FOREVER}, JobState.JOB_STATE_RUNNING),
        ({"queued_seconds": 0, "pending_seconds": 0, "run_seconds": 0}, JobState.JOB_STATE_SUCCEEDED),
    ],
)
def test_a_job_is_in_the_phase_its_configured_durations_put_it_in(
    jobs: Any, emulator: Emulator, durations: dict[str, float], state: JobState
) -> None:
    """QUEUED → PENDING → RUNNING → SUCCEEDED, as the clock passes each phase's duration."""
    emulator.configure(**durations)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    assert jobs.get_custom_job(name=job.name).state == state


def test_a_finished_job_carries_start_and_end_times(jobs: Any, emulator: Emulator) -> None:
    """start_time ≤ end_time, both after create_time; update_time is the last transition."""
    emulator.configure(queued_seconds=1, pending_seconds=2, run_seconds=3, time_scale=1e6)
    job = jobs.get_custom_job(name=jobs.create_custom_job(parent=PARENT, custom_job=custom_job()).name)
    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert (job.start_time - job.create_time).total_seconds() == pytest.approx(3, abs=0.01)
    assert (job.end_time - job.start_time).total_seconds() == pytest.approx(3, abs=0.01)
    assert job.update_time == job.end_time


@pytest.mark.parametrize(
    ("outcome", "state", "error_code"),
    [
        ("failed", JobState.JOB_STATE_FAILED, 3),
        ("expired", JobState.JOB_STATE_EXPIRED, 4),
        ("partially_succeeded", JobState.JOB_STATE_PARTIALLY_SUCCEEDED, 3),
        ("succeeded", JobState.JOB_STATE_SUCCEEDED, 0),
    ],
)
def test_the_emulator_outcome_label_decides_how_a_job_ends(
    jobs: Any, emulator: Emulator, outcome: str, state: JobState, error_code: int
) -> None:
    """Label emulator-outcome overrides the default outcome; failures carry a google.rpc.Status error."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"emulator-outcome": outcome}))
    seen = jobs.get_custom_job(name=job.name)
    assert seen.state == state
    assert seen.error.code == error_code


def test_the_emulator_run_seconds_label_overrides_the_run_phase(jobs: Any, emulator: Emulator) -> None:
    """A job with emulator-run-seconds keeps RUNNING for that long, whatever the default."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    long_job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"emulator-run-seconds": "999999"}))
    assert jobs.get_custom_job(name=long_job.name).state == JobState.JOB_STATE_RUNNING


def test_a_rule_overrides_the_lifecycle_of_jobs_matching_its_filter(jobs: Any, emulator: Emulator) -> None:
    """Rules from the control API apply per job, chosen by an AIP-160 filter on labels/display_name."""
    emulator.configure(
        queued_seconds=0, pending_seconds=0, run_seconds=0, rules=[{"filter": "labels.team=ml", "outcome": "failed"}]
    )
    ml = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"team": "ml"}))
    other = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"team": "web"}))
    assert jobs.get_custom_job(name=ml.name).state == JobState.JOB_STATE_FAILED
    assert jobs.get_custom_job(name=other.name).state == JobState.JOB_STATE_SUCCEEDED


def test_cancel_moves_a_running_job_to_cancelling_then_cancelled(jobs: Any, emulator: Emulator) -> None:
    """Cancel answers Empty; the job shows CANCELLING until cancel_seconds pass, then CANCELLED."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=FOREVER, cancel_seconds=FOREVER)
    slow = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    assert jobs.cancel_custom_job(name=slow.name) is None
    assert jobs.get_custom_job(name=slow.name).state == JobState.JOB_STATE_CANCELLING
    jobs.cancel_custom_job(name=slow.name)  # a second cancel while CANCELLING is accepted
    emulator.configure(cancel_seconds=0)
    quick = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    jobs.cancel_custom_job(name=quick.name)
    cancelled = jobs.get_custom_job(name=quick.name)
    assert cancelled.state == JobState.JOB_STATE_CANCELLED
    assert cancelled.end_time.timestamp() > 0


def test_cancelling_a_finished_job_is_failed_precondition(jobs: Any, emulator: Emulator) -> None:
    """Like Vertex: a job that already ended cannot be cancelled."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    job = jobs.create_custom_job(parent=PARENT, custom_job=custom_job())
    with pytest.raises(exceptions.BadRequest, match="JOB_STATE_SUCCEEDED"):
        jobs.cancel_custom_job(name=job.name)


def test_an_unknown_job_is_not_found(jobs: Any) -> None:
    """GET and cancel of a job that does not exist answer NOT_FOUND."""
    with pytest.raises(exceptions.NotFound):
        jobs.get_custom_job(name=f"{PARENT}/customJobs/123")
    with pytest.raises(exceptions.NotFound):
        jobs.cancel_custom_job(name=f"{PARENT}/customJobs/123")


def test_list_filters_by_label_and_state(jobs: Any, emulator: Emulator) -> None:
    """The launcher's reattach and concurrency queries select exactly the right jobs."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=FOREVER)
    first = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"vertex-launcher-schedule": "s"}))
    second = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"vertex-launcher-schedule": "s"}))
    jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"vertex-launcher-schedule": "other"}))
    emulator.force(first.name, "JOB_STATE_SUCCEEDED")

    def names(filter_text: str) -> set[str]:
        return {job.name for job in jobs.list_custom_jobs(request={"parent": PARENT, "filter": filter_text})}

    assert names('labels.vertex-launcher-schedule="s"') == {second.name, first.name}
    running = 'labels.vertex-launcher-schedule="s" AND (state=JOB_STATE_RUNNING OR state=JOB_STATE_PENDING)'
    assert names(running) == {second.name}
    assert names("labels.nothing:*") == set()


def test_or_binds_tighter_than_and_as_aip_160_says(jobs: Any, emulator: Emulator) -> None:
    """``a AND b OR c`` is ``a AND (b OR c)``: a job with only ``c`` is not listed."""
    only_c = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"c": "1"}))
    a_and_c = jobs.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"a": "1", "c": "1"}))
    listed = jobs.list_custom_jobs(request={"parent": PARENT, "filter": "labels.a=1 AND labels.b=1 OR labels.c=1"})
    assert {job.name for job in listed} == {a_and_c.name}
    assert only_c.name not in {job.name for job in listed}


@pytest.mark.parametrize(
    "filter_text",
    ['start_time>"2026-01-01T00:00:00Z"', 'name="x"', 'update_time>"2026-01-01T00:00:00Z"', "state:JOB_STATE_RUNNING"],
)
def test_custom_jobs_filter_only_on_the_fields_their_list_api_documents(jobs: Any, filter_text: str) -> None:
    """ListCustomJobs documents display_name, state, create_time and labels: other fields are INVALID_ARGUMENT."""
    with pytest.raises(exceptions.BadRequest, match="Unsupported filter"):
        list(jobs.list_custom_jobs(request={"parent": PARENT, "filter": filter_text}))


def test_the_has_operator_matches_display_names_with_wildcards(jobs: Any) -> None:
    """``display_name:"night*"`` (the documented wildcard) matches by pattern; ``=`` matches exactly."""
    nightly = jobs.create_custom_job(parent=PARENT, custom_job=custom_job("nightly-train"))
    jobs.create_custom_job(parent=PARENT, custom_job=custom_job("weekly-train"))
    assert [j.name for j in jobs.list_custom_jobs(request={"parent": PARENT, "filter": 'display_name:"night*"'})] == [
        nightly.name
    ]
    assert list(jobs.list_custom_jobs(request={"parent": PARENT, "filter": 'display_name="night*"'})) == []


def test_custom_jobs_are_listed_in_no_particular_order(emulator_factory: Any) -> None:
    """ListCustomJobs has no order_by and documents no order: the emulator lists by (random) id, not by creation."""
    emulator = emulator_factory("--seed", "3")
    client = emulator.job_client("grpc")
    created = [client.create_custom_job(parent=PARENT, custom_job=custom_job(f"job-{i}")).name for i in range(6)]
    listed = [job.name for job in client.list_custom_jobs(request={"parent": PARENT})]
    assert sorted(listed) == sorted(created)
    assert listed not in (created, list(reversed(created)))


def test_list_pages_through_all_jobs_with_page_tokens(jobs: Any) -> None:
    """page_size bounds a page; the pager follows next_page_token to the end without repeats."""
    created = [jobs.create_custom_job(parent=PARENT, custom_job=custom_job(f"job-{i}")).name for i in range(5)]
    first_page = jobs.list_custom_jobs(request={"parent": PARENT, "page_size": 2})
    assert len(first_page.custom_jobs) == 2
    assert first_page.next_page_token
    listed = [job.name for job in jobs.list_custom_jobs(request={"parent": PARENT, "page_size": 2})]
    assert sorted(listed) == sorted(created)
    assert len(set(listed)) == len(listed)


def test_pipeline_jobs_are_listed_newest_first_or_by_order_by(pipelines: Any) -> None:
    """ListPipelineJobs orders by create_time desc unless order_by says otherwise; a bad order_by is rejected."""
    created = [pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job()).name for _ in range(3)]
    newest_first = [job.name for job in pipelines.list_pipeline_jobs(request={"parent": PARENT, "page_size": 2})]
    assert newest_first == list(reversed(created))
    oldest_first = pipelines.list_pipeline_jobs(request={"parent": PARENT, "order_by": "create_time"})
    assert [job.name for job in oldest_first] == created
    with pytest.raises(exceptions.BadRequest, match="order_by"):
        list(pipelines.list_pipeline_jobs(request={"parent": PARENT, "order_by": "display_name"}))


def test_a_pipeline_job_is_listed_without_its_task_details(pipelines: Any, emulator: Emulator) -> None:
    """List views leave out job_detail; GET has the tasks (the launcher GETs a job it found by listing)."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    job = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job("prepare", "train"))
    [listed] = pipelines.list_pipeline_jobs(request={"parent": PARENT})
    assert listed.state == PipelineState.PIPELINE_STATE_SUCCEEDED
    assert not listed.job_detail.task_details
    assert pipelines.get_pipeline_job(name=job.name).job_detail.task_details


def test_pipeline_jobs_filter_on_their_own_documented_fields(pipelines: Any) -> None:
    """pipeline_name and pipeline_job_user_id are ListPipelineJobs fields (not ListCustomJobs ones)."""
    job = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="nightly-7")
    for filter_text in ('pipeline_name="demo-pipeline"', 'pipeline_job_user_id:"nightly-*"'):
        assert [j.name for j in pipelines.list_pipeline_jobs(request={"parent": PARENT, "filter": filter_text})] == [
            job.name
        ]


def test_list_only_shows_jobs_of_the_requested_parent(jobs: Any) -> None:
    """Jobs of another project or location are not listed."""
    jobs.create_custom_job(parent="projects/other/locations/us-central1", custom_job=custom_job())
    assert list(jobs.list_custom_jobs(request={"parent": PARENT})) == []


def test_an_unparseable_filter_is_invalid_argument(jobs: Any) -> None:
    """The client sees InvalidArgument, naming the filter."""
    with pytest.raises(exceptions.BadRequest, match=r"labels\.a=="):
        list(jobs.list_custom_jobs(request={"parent": PARENT, "filter": "labels.a=="}))


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({**custom_job(), "display_name": ""}, "custom_job.display_name"),
        ({**custom_job(), "job_spec": {}}, "custom_job.job_spec.worker_pool_specs"),
        (
            {
                **custom_job(),
                "job_spec": {"worker_pool_specs": [{"replica_count": 1, "container_spec": {"image_uri": "i"}}]},
            },
            "machine_spec.machine_type",
        ),
        (
            {
                **custom_job(),
                "job_spec": {"worker_pool_specs": [{"replica_count": 1, "machine_spec": {"machine_type": "m"}}]},
            },
            "container_spec.image_uri",
        ),
        (custom_job(labels={"Team": "ml"}), "Label key 'Team'"),
        (custom_job(labels={"team": "M L"}), "Label value 'M L'"),
        (custom_job(labels={"team": "x" * 64}), "Label value"),
    ],
)
def test_an_invalid_custom_job_is_rejected_with_a_message_naming_the_field(
    jobs: Any, emulator: Emulator, job: dict[str, Any], field: str
) -> None:
    """INVALID_ARGUMENT with Vertex's "List of found errors" wording; nothing is created."""
    with pytest.raises(exceptions.BadRequest, match="List of found errors") as caught:
        jobs.create_custom_job(parent=PARENT, custom_job=job)
    assert field in caught.value.message
    assert emulator.jobs() == []


def test_a_pipeline_job_keeps_its_requested_id_and_a_duplicate_is_already_exists(pipelines: Any) -> None:
    """pipeline_job_id names the job; reusing it answers ALREADY_EXISTS (the launcher then reattaches)."""
    job = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-abc-123")
    assert job.name == f"{PARENT}/pipelineJobs/run-abc-123"
    assert job.state == PipelineState.PIPELINE_STATE_QUEUED
    with pytest.raises(exceptions.Conflict, match="run-abc-123"):
        pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-abc-123")


@pytest.mark.parametrize("job_id", ["Upper", "1starts-with-digit", "has_underscore", "x" * 129])
def test_a_malformed_pipeline_job_id_is_invalid_argument(pipelines: Any, job_id: str) -> None:
    """pipeline_job_id must match [a-z][-a-z0-9]{0,127}."""
    with pytest.raises(exceptions.BadRequest, match="pipeline_job_id"):
        pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id=job_id)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"display_name": "x"}, "pipeline_job.pipeline_spec"),
        (
            {**pipeline_job(), "runtime_config": {"parameter_values": {"epochs": 3}}},
            r"runtime_config.gcs_output_directory; Message: Required",  # even with the spec's defaultPipelineRoot
        ),
        ({**pipeline_job(), "runtime_config": {"parameter_values": {"nope": 1}}}, "'nope' is not found"),
        (
            {**pipeline_job(), "runtime_config": {"gcs_output_directory": "/tmp/x", "parameter_values": {}}},
            "is not a gs:// URI",
        ),
    ],
)
def test_an_invalid_pipeline_job_is_rejected(pipelines: Any, job: dict[str, Any], message: str) -> None:
    """A spec (or template_uri), a pipeline root and only declared parameters are required."""
    with pytest.raises(exceptions.BadRequest, match=message):
        pipelines.create_pipeline_job(parent=PARENT, pipeline_job=job)


def test_a_finished_pipeline_reports_its_tasks(pipelines: Any, emulator: Emulator) -> None:
    """job_detail.task_details lists the root and each task of root.dag.tasks with its final state."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=0)
    ok = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job("prepare", "train"))
    done = pipelines.get_pipeline_job(name=ok.name)
    assert done.state == PipelineState.PIPELINE_STATE_SUCCEEDED
    tasks = {task.task_name: task.state for task in done.job_detail.task_details}
    succeeded = PipelineTaskDetail.State.SUCCEEDED
    assert tasks == {"demo-pipeline": succeeded, "prepare": succeeded, "train": succeeded}
    bad = pipelines.create_pipeline_job(
        parent=PARENT, pipeline_job=pipeline_job("prepare", "train", labels={"emulator-outcome": "failed"})
    )
    failed = pipelines.get_pipeline_job(name=bad.name)
    assert failed.state == PipelineState.PIPELINE_STATE_FAILED
    assert PipelineTaskDetail.State.FAILED in [task.state for task in failed.job_detail.task_details]


def test_pipeline_jobs_list_cancel_and_filter_like_custom_jobs(pipelines: Any, emulator: Emulator) -> None:
    """ListPipelineJobs filters on labels and PIPELINE_STATE_*; CancelPipelineJob cancels."""
    emulator.configure(queued_seconds=0, pending_seconds=0, run_seconds=FOREVER, cancel_seconds=0)
    job = pipelines.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(labels={"vertex-launcher-run": "k1"}))
    query = {"parent": PARENT, "filter": 'labels.vertex-launcher-run="k1" AND state=PIPELINE_STATE_RUNNING'}
    assert [found.name for found in pipelines.list_pipeline_jobs(request=query)] == [job.name]
    pipelines.cancel_pipeline_job(name=job.name)
    assert pipelines.get_pipeline_job(name=job.name).state == PipelineState.PIPELINE_STATE_CANCELLED
    with pytest.raises(exceptions.BadRequest):
        list(pipelines.list_pipeline_jobs(request={"parent": PARENT, "filter": "state=JOB_STATE_RUNNING"}))


def test_a_restart_with_the_state_file_keeps_jobs_and_their_progress(emulator_factory: Any) -> None:
    """The chaos suite restarts the emulator mid-watch: jobs, names and states survive, on the same ports."""
    emulator = emulator_factory("--queued-seconds", "0", "--pending-seconds", "0", "--run-seconds", "1e9")
    client = emulator.job_client("grpc")
    job = client.create_custom_job(parent=PARENT, custom_job=custom_job(labels={"vertex-launcher-run": "r1"}))
    client.cancel_custom_job(name=job.name)
    ports = (emulator.grpc, emulator.rest)
    emulator.restart()
    assert (emulator.grpc, emulator.rest) == ports
    again = emulator.job_client("grpc").get_custom_job(name=job.name)
    assert again.labels["vertex-launcher-run"] == "r1"
    assert again.state in (JobState.JOB_STATE_CANCELLING, JobState.JOB_STATE_CANCELLED)
    assert again.create_time == job.create_time
