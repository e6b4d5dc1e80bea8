"""The AIP-160 filter subset: what matches, what does not, and what is rejected as INVALID_ARGUMENT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vertex_launcher.emulator.errors import ApiError
from vertex_launcher.emulator.filters import CUSTOM_JOB_FIELDS, PIPELINE_JOB_FIELDS, JobView, parse
from vertex_launcher.emulator.resources import CUSTOM, PIPELINE

JOB = JobView(
    labels={"vertex-launcher-run": "abc", "team": "ml", "empty": ""},
    state="JOB_STATE_RUNNING",
    display_name="nightly train",
    name="projects/p/locations/l/customJobs/1",
    times={"create_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "end_time": None},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ('labels.vertex-launcher-run="abc"', True),
        ("labels.vertex-launcher-run=abc", True),
        ('labels.vertex-launcher-run="abd"', False),
        ("labels.team:*", True),
        ("labels.missing:*", False),
        ("labels.empty:*", True),
        ("NOT labels.missing:*", True),
        ("-labels.team:*", False),
        ("state=JOB_STATE_RUNNING", True),
        ('state="JOB_STATE_RUNNING"', True),
        ("state!=JOB_STATE_RUNNING", False),
        ('display_name="nightly train"', True),
        ('create_time>"2026-01-01T00:00:00Z"', True),
        ('create_time<"2026-01-01T00:00:00Z"', False),
        ("create_time>=2026-01-02T03:04:05Z", True),
        ('end_time>"2000-01-01T00:00:00Z"', False),
        ('labels.team="ml" AND state=JOB_STATE_RUNNING', True),
        ('labels.team="ml" state=JOB_STATE_SUCCEEDED', False),
        ("state=JOB_STATE_SUCCEEDED OR state=JOB_STATE_RUNNING", True),
        ("labels.team=ml AND (state=JOB_STATE_QUEUED OR state=JOB_STATE_PENDING OR state=JOB_STATE_RUNNING)", True),
        ("labels.team=ml AND NOT (state=JOB_STATE_SUCCEEDED OR state=JOB_STATE_FAILED) AND NOT labels.x:*", True),
        ("NOT labels.team=ml OR labels.vertex-launcher-run=abc", True),
    ],
)
def test_a_filter_matches_the_jobs_it_names(text: str, expected: bool) -> None:
    """Each supported form selects exactly the jobs it describes."""
    assert parse(text, states=CUSTOM.states)(JOB) is expected


@pytest.mark.parametrize(
    "text",
    [
        "labels.team=",
        "state=JOB_STATE_BOGUS",
        "state=PIPELINE_STATE_RUNNING",
        "colour=red",
        "(labels.team=ml",
        "labels.team=ml)",
        'labels.team="ml',
        "create_time>yesterday",
        "labels.team>ml",
        "labels.a==",
        "AND labels.team=ml",
        "labels.team=ml OR",
    ],
)
def test_an_unparseable_or_unsupported_filter_is_invalid_argument(text: str) -> None:
    """Anything outside the subset is INVALID_ARGUMENT with the filter in the message."""
    with pytest.raises(ApiError) as caught:
        parse(text, states=CUSTOM.states)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert text in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # OR binds tighter than AND (AIP-160): a AND (b OR c)
        ("labels.team=other AND labels.team=other OR labels.vertex-launcher-run=abc", False),
        ("labels.team=ml AND labels.team=other OR labels.vertex-launcher-run=abc", True),
        # ... and than juxtaposition (an implicit AND of factors)
        ("labels.team=other labels.team=ml OR labels.vertex-launcher-run=abc", False),
        # NOT applies to one simple term only
        ("NOT labels.team=ml OR labels.vertex-launcher-run=abc", True),
        ("NOT (labels.team=ml OR labels.vertex-launcher-run=abc)", False),
        # the has-operator: key presence and wildcards on strings
        ('display_name:"nightly*"', True),
        ('display_name:"*train"', True),
        ('display_name:"weekly*"', False),
        ('display_name="nightly*"', False),
    ],
)
def test_precedence_and_the_has_operator_follow_aip_160(text: str, expected: bool) -> None:
    """The same filter text means what AIP-160 says it means."""
    assert parse(text, states=CUSTOM.states, fields=CUSTOM_JOB_FIELDS)(JOB) is expected


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (CUSTOM_JOB_FIELDS, 'end_time>"2026-01-01T00:00:00Z"'),
        (CUSTOM_JOB_FIELDS, 'name="x"'),
        (CUSTOM_JOB_FIELDS, 'pipeline_name="x"'),
        (CUSTOM_JOB_FIELDS, "state<JOB_STATE_RUNNING"),
        (PIPELINE_JOB_FIELDS, 'start_time>"2026-01-01T00:00:00Z"'),
        (PIPELINE_JOB_FIELDS, 'pipeline_name:"x*"'),
    ],
)
def test_each_list_api_takes_only_its_documented_fields_and_operators(fields: Any, text: str) -> None:
    """ListCustomJobs and ListPipelineJobs document different fields; anything else is INVALID_ARGUMENT."""
    with pytest.raises(ApiError) as caught:
        parse(text, states=CUSTOM.states | PIPELINE.states, fields=fields)
    assert caught.value.code == "INVALID_ARGUMENT"
