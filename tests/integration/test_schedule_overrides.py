"""A schedule stored outside the definition (the Schedules page, ``Schedule.create``) is applied when the
DAG factory parses the definition, in a real DagBag reading a real metadata database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_mlpipelines.pipeline.publishing import ScheduleRecord, schedule_key

pytestmark = pytest.mark.integration

DEFINITION = """\
name: {name}
schedule: "@daily"
parameters:
  alpha: {{type: number, default: 0.5}}
steps:
  - name: train
    script: train.py
    arguments: ["--alpha", {{parameter: alpha}}]
"""


def _folder(scratch: Path, name: str) -> Path:
    (scratch / f"{name}.yaml").write_text(DEFINITION.format(name=name))
    (scratch / "train.py").write_text("print('hi')\n")
    (scratch / f"{name}.py").write_text(
        "from airflow_mlpipelines.dag_factory import load_pipeline\nload_pipeline(globals(), __file__)\n"
    )
    return scratch


def _bag(folder: Path):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(folder))


@pytest.fixture
def stored(airflow_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Variables set by a test in the metadata database, deleted afterwards.

    The Task SDK reads Variables from the metadata database only in server contexts (the DAG processor
    asks its supervisor); ``_AIRFLOW_PROCESS_CONTEXT=server`` is how Airflow's own components say so.
    """
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    keys: list[str] = []
    yield keys
    from airflow.models.variable import Variable

    for key in keys:
        Variable.delete(key)


def _store(keys: list[str], record: ScheduleRecord) -> None:
    from airflow.models.variable import Variable

    Variable.set(schedule_key(record.dag_id), record.to_json())
    keys.append(schedule_key(record.dag_id))


def test_without_a_stored_schedule_the_definition_applies(scratch_dags: Path, stored: list[str]) -> None:
    bag = _bag(_folder(scratch_dags, "ovr_none"))
    assert bag.import_errors == {}
    assert bag.dags["ovr_none"].schedule == "@daily"


def test_a_stored_schedule_and_parameter_defaults_replace_the_definitions(
    scratch_dags: Path, stored: list[str]
) -> None:
    record = ScheduleRecord(
        "ovr_set", "30 6 * * 1-5", "alice", "2026-12-01T10:00:00+00:00", name="weekdays",
        pipeline_parameters={"alpha": 0.9},
    )  # fmt: skip
    _store(stored, record)
    bag = _bag(_folder(scratch_dags, "ovr_set"))
    assert bag.import_errors == {}
    dag = bag.dags["ovr_set"]
    assert dag.schedule == "30 6 * * 1-5"
    assert dag.params["alpha"] == 0.9
    assert "Schedule set outside the definition** (in force): `30 6 * * 1-5`, by alice" in dag.doc_md
    assert "the definition says `@daily`" in dag.doc_md


def test_an_environment_variable_sets_it_too(scratch_dags: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``AIRFLOW_VAR_*`` (or any secrets backend) holds a schedule as well, e.g. from a GitOps deploy."""
    record = ScheduleRecord("ovr_env", "@hourly", "deploy", "t")
    monkeypatch.setenv("AIRFLOW_VAR_" + schedule_key("ovr_env").upper(), record.to_json())
    dag = _bag(_folder(scratch_dags, "ovr_env")).dags["ovr_env"]
    assert dag.schedule == "@hourly"


def test_a_disabled_schedule_stops_the_scheduled_runs(scratch_dags: Path, stored: list[str]) -> None:
    _store(stored, ScheduleRecord("ovr_off", "0 * * * *", "bob", "t", status="Disabled"))
    dag = _bag(_folder(scratch_dags, "ovr_off")).dags["ovr_off"]
    assert dag.schedule is None


def test_a_stored_schedule_that_cannot_be_applied_leaves_the_definitions_in_force(
    scratch_dags: Path, stored: list[str]
) -> None:
    """A hand-edited Variable or a schedule that no longer fits never takes the pipeline down: the DAG
    loads with the definition's schedule and its docs say what is wrong."""
    from airflow.models.variable import Variable

    Variable.set(schedule_key("ovr_bad"), "{not json")
    stored.append(schedule_key("ovr_bad"))
    bag = _bag(_folder(scratch_dags, "ovr_bad"))
    assert bag.import_errors == {}
    dag = bag.dags["ovr_bad"]
    assert dag.schedule == "@daily"
    assert "not applied" in dag.doc_md
    assert "Airflow Variable 'mlpipelines.schedule.ovr_bad'" in dag.doc_md
    assert "is not a schedule record" in dag.doc_md
    _store(stored, ScheduleRecord("ovr_bad", 42, "carol", "t"))
    dag = _bag(scratch_dags).dags["ovr_bad"]
    assert dag.schedule == "@daily"
    assert "the schedule stored for pipeline 'ovr_bad'" in dag.doc_md
    watch = {"datastore": "inbox", "path_on_datastore": "in", "data_path_parameter_name": "alpha"}
    _store(stored, ScheduleRecord("ovr_bad", watch, "dave", "t"))
    dag = _bag(scratch_dags).dags["ovr_bad"]
    assert dag.schedule == "@daily"
    assert "does not fit the pipeline" in dag.doc_md
    assert "parameter 'alpha' gets the path of the file that fired" in dag.doc_md


def test_a_schedule_stored_over_an_asset_scheduled_definition(scratch_dags: Path, stored: list[str]) -> None:
    """Any form replaces any form: a cron string over a definition scheduled on assets."""
    (scratch_dags / "ovr_assets.yaml").write_text(
        DEFINITION.format(name="ovr_assets").replace(
            'schedule: "@daily"', "schedule: {assets: [s3://bucket/in]}"
        )
    )
    (scratch_dags / "train.py").write_text("print('hi')\n")
    (scratch_dags / "ovr_assets.py").write_text(
        "from airflow_mlpipelines.dag_factory import load_pipeline\nload_pipeline(globals(), __file__)\n"
    )
    _store(stored, ScheduleRecord("ovr_assets", "0 5 * * *", "erin", "t"))
    dag = _bag(scratch_dags).dags["ovr_assets"]
    assert dag.schedule == "0 5 * * *"
    assert "the definition says `assets s3://bucket/in`" in dag.doc_md
