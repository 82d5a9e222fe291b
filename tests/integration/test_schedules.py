"""Recurrence schedules (issue 15, item 3) on a real Airflow: a YAML pipeline with an Azure ML recurrence
parses in a DagBag, its timetable survives serialization (the plugin registers it), the scheduler's next
runs are the recurrence's, ``dag.test()`` runs it, and a broken recurrence names its line."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE, main

pytestmark = pytest.mark.integration

PIPELINE = """\
name: {name}
catchup: true
schedule:
  frequency: Day
  interval: 2
  start_time: "2026-01-01T06:00:00"
  time_zone: Europe/Amsterdam
  time_of_day: "06:30"
steps:
  - name: hello
    script: hello.py
"""


def _folder(folder: Path, name: str, definition: str) -> Path:
    (folder / "hello.py").write_text("print('hello')\n")
    (folder / f"{name}.yaml").write_text(definition)
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    return folder


def _bag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(folder))


def _utc(info: Any) -> str:
    return str(info.run_after.astimezone(datetime.UTC).isoformat())


def test_a_recurrence_parses_in_a_dagbag_and_schedules_its_runs(tmp_path: Path) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_mlpipelines.timetables import RecurrenceTimetable

    bag = _bag(_folder(tmp_path, "every_other_day", PIPELINE.format(name="every_other_day")))
    assert bag.import_errors == {}
    dag = bag.dags["every_other_day"]
    assert isinstance(dag.timetable, RecurrenceTimetable)
    assert dag.timetable.summary == "every 2 days at 06:30 from 2026-01-01 06:00 Europe/Amsterdam"
    # What the scheduler holds: the DAG as stored, timetable rebuilt from the plugin's class.
    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert scheduled.timetable.summary == dag.timetable.summary
    first = scheduled.next_dagrun_info(last_automated_run_info=None)
    assert _utc(first) == "2026-01-01T05:30:00+00:00"  # 06:30 CET, the start's day
    second = scheduled.next_dagrun_info(last_automated_run_info=first)
    assert _utc(second) == "2026-01-03T05:30:00+00:00"
    # Days 0, 2, 4... from 2026-01-01 (Jan 31 + Feb 28 days: 2026-03-02 is day 60); CEST from 2026-03-29.
    between = scheduled.iter_dagrun_infos_between(
        datetime.datetime(2026, 3, 27, tzinfo=datetime.UTC),
        datetime.datetime(2026, 4, 5, 23, tzinfo=datetime.UTC),
    )
    assert [_utc(i) for i in between] == [
        "2026-03-28T05:30:00+00:00", "2026-03-30T04:30:00+00:00", "2026-04-01T04:30:00+00:00",
        "2026-04-03T04:30:00+00:00", "2026-04-05T04:30:00+00:00",
    ]  # fmt: skip


def test_a_cron_equivalent_reaches_airflow_as_cron(tmp_path: Path) -> None:
    definition = PIPELINE.format(name="daily_utc").replace("  interval: 2\n", "  interval: 1\n")
    definition = definition.replace("  time_zone: Europe/Amsterdam\n", "")
    dag = _bag(_folder(tmp_path, "daily_utc", definition)).dags["daily_utc"]
    assert dag.schedule == "30 6 * * *"
    assert dag.start_date == datetime.datetime(2026, 1, 1, 6, tzinfo=datetime.UTC)


@pytest.mark.usefixtures("airflow_db")
def test_dag_test_runs_a_recurrence_scheduled_pipeline(scratch_dags: Path, airflow_home: Path) -> None:
    """``dag.test()`` stores the DAG in the metadata database (its timetable through the plugin), and the
    API server shows the recurrence's summary."""
    folder = _folder(scratch_dags, "recurrence_run", PIPELINE.format(name="recurrence_run"))
    bag = _bag(folder)
    assert bag.import_errors == {}
    run = bag.dags["recurrence_run"].test()
    assert run.state == "success", {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    # The API server reads the stored DAG (its timetable rebuilt through the plugin) for the UI.
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    try:
        with TestClient(create_app(apps="core")) as client:
            passwords = json.loads(
                (airflow_home / "simple_auth_manager_passwords.json.generated").read_text()
            )
            username, password = next(iter(passwords.items()))
            token = client.post("/auth/token", json={"username": username, "password": password})
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            dag = client.get("/api/v2/dags/recurrence_run/details", headers=auth)
            assert dag.status_code == 200, dag.text
            summary = "every 2 days at 06:30 from 2026-01-01 06:00 Europe/Amsterdam"
            assert dag.json()["timetable_summary"] == summary
            assert dag.json()["timetable_description"] == summary
            plugins = client.get("/api/v2/plugins", headers=auth).json()["plugins"]
            (ours,) = [p for p in plugins if p["name"] == "mlpipelines"]
            assert ours["timetables"] == ["airflow_mlpipelines.timetables.recurrence.RecurrenceTimetable"]
    finally:
        purge_cached_app()


BROKEN = """\
name: broken_recurrence
schedule:
  frequency: Minute
  interval: 15
  time_zone: Europe/Amsterdam
  hours: [6, 18]
steps:
  - name: hello
    script: hello.py
"""


def test_a_broken_recurrence_is_an_import_error_naming_its_line(tmp_path: Path) -> None:
    bag = _bag(_folder(tmp_path, "broken_recurrence", BROKEN))
    (message,) = bag.import_errors.values()
    assert "broken_recurrence.yaml:6, field 'schedule.hours'" in message
    assert "hours can be given only with frequency Day or Week" in message


def test_validate_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, "broken_recurrence", BROKEN)
    assert main(["validate", str(folder / "broken_recurrence.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.count("field 'schedule.hours'") == 1
    assert "broken_recurrence.yaml:6, field 'schedule.hours': hours can be given only with" in out
    # With a schema error elsewhere, the schedule's rules are still checked.
    (folder / "broken_recurrence.yaml").write_text(BROKEN.replace("    script: hello.py", "    scriptt: x"))
    assert main(["validate", "--format", "json", str(folder / "broken_recurrence.yaml")]) == 1
    out = capsys.readouterr().out
    assert '"field": "schedule.hours"' in out
    assert '"line": 6' in out
    (folder / "broken_recurrence.yaml").write_text(PIPELINE.format(name="broken_recurrence"))
    assert main(["validate", str(folder / "broken_recurrence.yaml")]) == 0
