"""A recurrence schedule on a real Airflow 3: the DAG processor stores the plugin's timetable, the API
server shows its summary, and the scheduler creates and runs the scheduled runs it asks for."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.e2e.conftest import ServerFactory

pytestmark = pytest.mark.e2e

# Not UTC, so no cron is exact: the DAG gets RecurrenceTimetable; every minute, so a run comes soon.
DEFINITION = """\
name: every_minute
schedule:
  frequency: Minute
  interval: 1
  time_zone: Europe/Amsterdam
steps:
  - name: tick
    script: tick.py
"""


def test_the_scheduler_runs_a_recurrence(tmp_path: Path, airflow_server_factory: ServerFactory) -> None:
    dags = tmp_path / "dags"
    (dags / "definitions").mkdir(parents=True)
    (dags / "definitions" / "every_minute.yaml").write_text(DEFINITION)
    (dags / "definitions" / "tick.py").write_text("print('tick')\n")
    (dags / "every_minute.py").write_text(STUB_TEMPLATE.format(definition="definitions/every_minute.yaml"))
    (dags / ".airflowignore").write_text("definitions/\n")

    server = airflow_server_factory(dags)
    server.wait_for_dags(["every_minute"], timeout=120)
    dag = server.get("/api/v2/dags/every_minute/details").json()
    assert dag["timetable_summary"] == "every minute Europe/Amsterdam"
    server.unpause("every_minute")

    def scheduled() -> dict[str, object] | None:
        runs = server.all("/api/v2/dags/every_minute/dagRuns", "dag_runs")
        done = [r for r in runs if r["run_type"] == "scheduled" and r["state"] == "success"]
        return done[0] if done else None

    run = server.poll("a scheduled run of every_minute that succeeded", scheduled, timeout=240)
    logical = datetime.datetime.fromisoformat(str(run["logical_date"]))
    assert (logical.second, logical.microsecond) == (0, 0)  # on a minute
    assert run["data_interval_start"] == run["data_interval_end"] == run["logical_date"]
    assert server.task_instances("every_minute", str(run["dag_run_id"])) == {
        "tick.reuse": "success",
        "tick.run": "success",
    }
