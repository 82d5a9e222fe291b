"""Azure ML's run request body → an Airflow trigger, and the records kept for published pipelines."""

from __future__ import annotations

import pytest

from airflow_mlpipelines.exceptions import RequestError
from airflow_mlpipelines.pipeline.publishing import (
    EndpointRecord,
    ParamInfo,
    PublishedRecord,
    ScheduleRecord,
    run_request,
)

PARAMS = [ParamInfo("alpha", "number"), ParamInfo("epochs", "integer"), ParamInfo("label", "string"),
          ParamInfo("fast", "boolean"), ParamInfo("data", None)]  # fmt: skip


def test_the_documented_body_becomes_conf_and_a_note() -> None:
    body = {
        "ExperimentName": "nightly",
        "ParameterAssignments": {"alpha": 0.2, "label": "x"},
        "DataPathAssignments": {"data": {"DataStoreName": "workspaceblobstore", "RelativePath": "in/a.csv"}},
        "Tags": {"team": "ml"},
        "Description": "from the scheduler",
    }
    wanted = run_request(body, PARAMS, "train")
    assert wanted.conf == {
        "alpha": 0.2,
        "label": "x",
        "data": {"datastore": "workspaceblobstore", "path_on_datastore": "in/a.csv"},
    }
    assert wanted.experiment_name == "nightly"
    assert wanted.tags == {"team": "ml"}
    assert wanted.note == (
        "Submitted to published pipeline 'train' (experiment 'nightly'). from the scheduler "
        'Tags: {"team": "ml"}'
    )


def test_values_sent_as_strings_are_read_by_the_parameter_type() -> None:
    body = {"ParameterAssignments": {"alpha": "0.25", "epochs": "3", "fast": "true", "label": "7"}}
    assert run_request(body, PARAMS, "p").conf == {"alpha": 0.25, "epochs": 3, "fast": True, "label": "7"}
    assert run_request(None, PARAMS, "p").conf == {}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"ParameterAssigments": {}}, "ParameterAssigments", "did you mean 'ParameterAssignments'"),
        ({"ParameterAssignments": {"alpah": 1}}, "ParameterAssignments.alpah", "did you mean 'alpha'"),
        ({"ParameterAssignments": {"epochs": "three"}}, "ParameterAssignments.epochs", "not a integer"),
        ({"ParameterAssignments": {"alpha": "nan"}}, "ParameterAssignments.alpha", "not a number"),
        ({"ParameterAssignments": [1]}, "ParameterAssignments", "must be a JSON object"),
        ({"DataPathAssignments": {"data": "x"}}, "DataPathAssignments.data", "DataStoreName"),
        (
            {
                "ParameterAssignments": {"data": 1},
                "DataPathAssignments": {"data": {"DataStoreName": "s", "RelativePath": "p"}},
            },
            "DataPathAssignments.data",
            "assigned twice",
        ),
        ({"ExperimentName": 3}, "ExperimentName", "must be a string"),
    ],
)
def test_bad_requests_name_the_field(body: object, field: str, message: str) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        run_request(body, PARAMS, "p")
    assert caught.value.field == field
    assert caught.value.status == 400


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RequestError, match="must be a JSON object, got list"):
        run_request([], PARAMS, "p")


def test_records_round_trip_and_endpoints_number_their_versions() -> None:
    published = PublishedRecord("id1", "train", "train_dag", "abc", "admin", "2026-12-01T00:00:00+00:00")
    assert PublishedRecord.from_json(published.to_json()) == published
    endpoint = EndpointRecord("ep", "0", {"0": "id1"}, "admin", "t")
    grown = endpoint.with_pipeline("id2", make_default=False).with_pipeline("id3", make_default=True)
    assert grown.versions == {"0": "id1", "1": "id2", "2": "id3"}
    assert grown.default_version == "2"
    assert grown.pipeline_of(None) == "id3"
    assert grown.pipeline_of("1") == "id2"
    with pytest.raises(RequestError, match=r"has no version '7' \(versions: 0, 1, 2\)") as caught:
        grown.pipeline_of("7")
    assert caught.value.status == 404
    assert EndpointRecord.from_json(grown.to_json()) == grown


def test_a_schedule_record_keeps_who_changed_it_and_the_earlier_schedules() -> None:
    record = ScheduleRecord("train_dag", "@daily", "alice", "t1")
    changed = record.changed("0 6 * * *", "bob", "t2").changed(
        {"frequency": "Day", "interval": 2}, "carol", "t3"
    )
    assert (changed.schedule, changed.changed_by, changed.changed_at) == (
        {"frequency": "Day", "interval": 2},
        "carol",
        "t3",
    )
    assert [(h.schedule, h.changed_by) for h in changed.history] == [
        ("0 6 * * *", "bob"),
        ("@daily", "alice"),
    ]
    assert ScheduleRecord.from_json(changed.to_json()) == changed
