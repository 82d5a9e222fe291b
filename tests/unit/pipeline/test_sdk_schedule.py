"""``Pipeline(..., schedule=ScheduleRecurrence(...))`` in Python definitions, as in Azure ML SDK v1."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import Recurrence, ScheduleRecurrence, TimeZone, load_definition

HEAD = """\
from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep, ScheduleRecurrence, TimeZone

step = PythonScriptStep(name="train", script_name="train.py", source_directory=".")
"""


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "train.py").write_text("")
    path = tmp_path / "definition.py"
    path.write_text(HEAD + textwrap.dedent(body))
    return path


def test_a_recurrence_schedules_the_pipeline(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        recurrence = ScheduleRecurrence(
            frequency="Week", interval=1, week_days=["Monday", "Friday"], time_of_day="06:30",
            time_zone=TimeZone.WEuropeStandardTime, start_time="2026-01-05T00:00:00",
        )
        pipeline = Pipeline(steps=[step], name="weekly", schedule=recurrence)
        """,
    )
    (spec,) = load_definition(str(path))
    assert spec.schedule == Recurrence(
        frequency="Week",
        interval=1,
        start_time=datetime.datetime(2026, 1, 5),
        time_zone="W. Europe Standard Time",
        week_days=("Monday", "Friday"),
        time_of_day="06:30",
    )
    assert spec.schedule.summary() == (
        "every week on Monday, Friday at 06:30 from 2026-01-05 00:00 W. Europe Standard Time"
    )


def test_a_broken_rule_is_an_error_at_the_recurrence_s_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        pipeline = Pipeline(
            steps=[step],
            schedule=ScheduleRecurrence("Minute", 15, hours=[6]),
        )
        """,
    )
    with pytest.raises(DefinitionError) as caught:
        load_definition(str(path))
    assert caught.value.location is not None
    assert (caught.value.location.file, caught.value.location.line) == (str(path), 7)
    assert caught.value.field == "schedule.hours"
    assert "hours can be given only with frequency Day or Week" in str(caught.value)


def test_the_yaml_mapping_form_works_in_python_too(tmp_path: Path) -> None:
    path = _write(
        tmp_path, 'pipeline = Pipeline(steps=[step], schedule={"frequency": "Hour", "interval": 6})\n'
    )
    (spec,) = load_definition(str(path))
    assert spec.schedule == Recurrence(frequency="Hour", interval=6)
    bad = _write(
        tmp_path, 'pipeline = Pipeline(steps=[step], schedule={"frequency": "Hour", "intervl": 6})\n'
    )
    with pytest.raises(
        DefinitionError, match=r"definition\.py:4, field 'schedule\.intervl': unknown key"
    ) as caught:
        load_definition(str(bad))
    assert caught.value.hint == "did you mean 'interval'?"


def test_cron_strings_stay_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, 'pipeline = Pipeline(steps=[step], schedule="@daily")\n')
    (spec,) = load_definition(str(path))
    assert spec.schedule == "@daily"


def test_sdk_names_and_validate() -> None:
    from airflow_mlpipelines.pipeline import sdk

    assert sdk.ScheduleRecurrence is ScheduleRecurrence
    assert sdk.TimeZone is TimeZone
    recurrence = ScheduleRecurrence(frequency="Day", interval=1, hours=[6], minutes=[0, 30])
    recurrence.validate()
    recurrence.hours = [30]
    with pytest.raises(DefinitionError, match=r"test_sdk_schedule\.py:\d+, field 'schedule\.hours\[0\]'"):
        recurrence.validate()
