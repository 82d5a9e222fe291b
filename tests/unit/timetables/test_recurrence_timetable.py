"""``RecurrenceTimetable`` as Airflow drives it (catchup, start and end restrictions, manual runs), its
serialization through the plugin, cron equivalents checked against Airflow's own cron timetable, and the
DAG factory's schedule helpers. Real Airflow, no metadata database."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_mlpipelines.dag_factory import airflow_schedule, next_run_times, render_pipeline
from airflow_mlpipelines.exceptions import DefinitionError, ScheduleError
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.recurrence import Recurrence, parse_schedule
from airflow_mlpipelines.pipeline.recurrence_times import runs
from airflow_mlpipelines.timetables import RecurrenceTimetable

UTC = datetime.UTC
EVERY_3_WEEKS = {
    "frequency": "Week",
    "interval": 3,
    "week_days": ["Monday", "Thursday"],
    "time_of_day": "09:00",
    "start_time": "2026-02-23T00:00:00",
    "time_zone": "America/New_York",
}


def _recurrence(schedule: dict[str, Any]) -> Recurrence:
    r = parse_schedule(schedule)
    assert isinstance(r, Recurrence)
    return r


def _t(text: str) -> pendulum.DateTime:
    return pendulum.instance(datetime.datetime.fromisoformat(text))


def _chain(timetable: Any, restriction: TimeRestriction, count: int) -> list[str]:
    found, last = [], None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            break
        assert info.data_interval is not None
        last = info.data_interval
        found.append(info.run_after.astimezone(UTC).isoformat())
    return found


class TestNextDagrunInfo:
    def test_catchup_runs_are_the_recurrence_s_times(self) -> None:
        timetable = RecurrenceTimetable(_recurrence(EVERY_3_WEEKS))
        restriction = TimeRestriction(earliest=_t("2026-01-01T00:00:00+00:00"), latest=None, catchup=True)
        # 09:00 in New York: EST (-5) until 2026-03-08, EDT (-4) after.
        assert _chain(timetable, restriction, 6) == [
            "2026-02-23T14:00:00+00:00", "2026-02-26T14:00:00+00:00", "2026-03-16T13:00:00+00:00",
            "2026-03-19T13:00:00+00:00", "2026-04-06T13:00:00+00:00", "2026-04-09T13:00:00+00:00",
        ]  # fmt: skip

    def test_a_run_is_its_own_data_interval(self) -> None:
        timetable = RecurrenceTimetable(_recurrence(EVERY_3_WEEKS))
        restriction = TimeRestriction(earliest=_t("2026-02-23T14:00:00+00:00"), latest=None, catchup=True)
        info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        assert info is not None
        assert info.run_after == _t("2026-02-23T14:00:00+00:00")  # at the earliest itself
        assert info.data_interval == DataInterval(info.run_after, info.run_after)
        manual = timetable.infer_manual_data_interval(run_after=_t("2026-05-01T10:11:12+00:00"))
        assert manual.start == manual.end == _t("2026-05-01T10:11:12+00:00")

    def test_nothing_after_the_end_date(self) -> None:
        timetable = RecurrenceTimetable(_recurrence(EVERY_3_WEEKS))
        restriction = TimeRestriction(
            earliest=_t("2026-01-01T00:00:00+00:00"), latest=_t("2026-03-01T00:00:00+00:00"), catchup=True
        )
        assert _chain(timetable, restriction, 5) == ["2026-02-23T14:00:00+00:00", "2026-02-26T14:00:00+00:00"]

    def test_without_catchup_the_latest_missed_run_starts_once(self) -> None:
        timetable = RecurrenceTimetable(_recurrence({"frequency": "Minute", "interval": 15}))
        restriction = TimeRestriction(earliest=_t("2024-01-01T00:00:00+00:00"), latest=None, catchup=False)
        last = DataInterval(_t("2025-01-01T00:00:00+00:00"), _t("2025-01-01T00:00:00+00:00"))
        for _ in range(3):  # the quarter of an hour may turn while this runs
            before = datetime.datetime.now(UTC)
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            after = datetime.datetime.now(UTC)
            quarter = before.replace(minute=before.minute // 15 * 15, second=0, microsecond=0)
            if quarter == after.replace(minute=after.minute // 15 * 15, second=0, microsecond=0):
                break
        assert info is not None
        assert info.run_after == quarter

    def test_without_catchup_a_future_start_waits_for_it(self) -> None:
        timetable = RecurrenceTimetable(
            _recurrence({"frequency": "Day", "interval": 2, "time_of_day": "06:30"})
        )
        restriction = TimeRestriction(earliest=_t("2099-03-01T12:00:00+00:00"), latest=None, catchup=False)
        info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        assert info is not None
        # Days 0, 2, 4... from 2024-01-01: 2099-01-01 is day 75 * 365 + 19 leap days = 27394, so
        # 2099-03-01 is day 27453 (no run) and 2099-03-02 day 27454.
        assert info.run_after == _t("2099-03-02T06:30:00+00:00")


class TestSerialization:
    def test_timetable_round_trip(self) -> None:
        timetable = RecurrenceTimetable(_recurrence(EVERY_3_WEEKS))
        data = json.loads(json.dumps(timetable.serialize()))
        again = RecurrenceTimetable.deserialize(data)
        assert again == timetable
        assert (
            again.summary
            == "every 3 weeks on Monday, Thursday at 09:00 from 2026-02-23 00:00 America/New_York"
        )
        with pytest.raises(ValueError, match="not a recurrence"):
            RecurrenceTimetable.deserialize({"recurrence": "@daily"})

    def test_the_plugin_registers_it(self) -> None:
        from airflow import plugins_manager

        from airflow_mlpipelines.plugins.ui import MLPipelinesPlugin

        assert MLPipelinesPlugin.timetables == [RecurrenceTimetable]
        registered = plugins_manager.get_timetables_plugins()
        assert (
            registered["airflow_mlpipelines.timetables.recurrence.RecurrenceTimetable"] is RecurrenceTimetable
        )

    def test_dag_serialization_round_trip(self, tmp_path: Path) -> None:
        from airflow.serialization.serialized_objects import DagSerialization

        (tmp_path / "s.py").write_text("")
        (tmp_path / "p.yaml").write_text(
            "name: p\nschedule:\n  frequency: Day\n  interval: 2\n  time_of_day: '06:30'\n"
            "  time_zone: Europe/Amsterdam\nsteps:\n  - {name: a, script: s.py}\n"
        )
        (spec,) = load_definition(str(tmp_path / "p.yaml"))
        data = json.loads(json.dumps(DagSerialization.to_dict(render_pipeline(spec))))
        encoded = data["dag"]["timetable"]
        assert encoded["__type"] == "airflow_mlpipelines.timetables.recurrence.RecurrenceTimetable"
        assert encoded["__var"] == {
            "recurrence": {
                "frequency": "Day",
                "interval": 2,
                "time_zone": "Europe/Amsterdam",
                "time_of_day": "06:30",
            }
        }
        dag = DagSerialization.from_dict(data)
        assert isinstance(dag.timetable, RecurrenceTimetable)
        assert dag.timetable.recurrence == spec.schedule
        assert dag.timetable.summary == "every 2 days at 06:30 Europe/Amsterdam"


CRON_EXACT = [
    ({"frequency": "Minute", "interval": 15}, "*/15 * * * *"),
    ({"frequency": "Minute", "interval": 20, "start_time": "2024-01-01T00:05:00"}, "5,25,45 * * * *"),
    ({"frequency": "Hour", "interval": 3}, "0 */3 * * *"),
    ({"frequency": "Day", "interval": 1, "hours": [6, 18], "minutes": [0, 45]}, "0,45 6,18 * * *"),
    ({"frequency": "Week", "interval": 1, "week_days": ["Monday", "Sunday"], "time_of_day": "23:59"},
     "59 23 * * 0,1"),
    ({"frequency": "Month", "interval": 1, "start_time": "2024-01-31T06:00:00"}, "0 6 31 * *"),
    ({"frequency": "Month", "interval": 2, "start_time": "2024-01-29T06:00:00"}, "0 6 29 1,3,5,7,9,11 *"),
]  # fmt: skip


class TestCronEquivalence:
    @pytest.mark.parametrize(("schedule", "cron"), CRON_EXACT, ids=[c for _, c in CRON_EXACT])
    def test_the_same_20_runs_as_airflow_s_cron(self, schedule: dict[str, Any], cron: str) -> None:
        r = _recurrence(schedule)
        assert r.as_cron() == cron
        for start in ("2024-01-01T00:00:00+00:00", "2026-02-27T13:07:00+00:00"):
            restriction = TimeRestriction(earliest=_t(start), latest=None, catchup=True)
            airflow_runs = _chain(CronTriggerTimetable(cron, timezone="UTC"), restriction, 20)
            ours = _chain(RecurrenceTimetable(r), restriction, 20)
            assert ours == airflow_runs
            pure = runs(r, datetime.datetime.fromisoformat(start) - datetime.timedelta(microseconds=1), 20)
            assert [t.astimezone(UTC).isoformat() for t in pure] == airflow_runs

    def test_render_gives_airflow_the_cron_and_the_start(self, tmp_path: Path) -> None:
        (tmp_path / "s.py").write_text("")
        (tmp_path / "p.yaml").write_text(
            "name: p\nschedule: {frequency: Day, interval: 1, time_of_day: '06:30', "
            "start_time: '2026-03-01T00:00:00'}\nsteps:\n  - {name: a, script: s.py}\n"
        )
        (spec,) = load_definition(str(tmp_path / "p.yaml"))
        dag = render_pipeline(spec)
        assert dag.schedule == "30 6 * * *"
        assert dag.start_date == datetime.datetime(2026, 3, 1, tzinfo=UTC)  # no cron run before the start


class TestHelpers:
    def test_the_origin_is_the_dags_start_date(self) -> None:
        from airflow_mlpipelines.dag_factory.schedules import START_DATE
        from airflow_mlpipelines.pipeline.recurrence import ORIGIN

        assert START_DATE == ORIGIN.replace(tzinfo=UTC)

    def test_airflow_schedule(self) -> None:
        assert airflow_schedule("@daily") == "@daily"
        assert airflow_schedule(None) is None
        assert airflow_schedule(_recurrence({"frequency": "Hour", "interval": 2})) == "0 */2 * * *"
        made = airflow_schedule(_recurrence(EVERY_3_WEEKS))
        assert isinstance(made, RecurrenceTimetable)

    def test_next_run_times(self) -> None:
        after = datetime.datetime(2026, 5, 30, 12, 0, tzinfo=UTC)
        assert [t.isoformat() for t in next_run_times("0 3 * * *", 3, after)] == [
            "2026-05-31T03:00:00+00:00", "2026-06-01T03:00:00+00:00", "2026-06-02T03:00:00+00:00",
        ]  # fmt: skip
        assert [t.isoformat() for t in next_run_times("@monthly", 2, after)] == [
            "2026-06-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00",
        ]  # fmt: skip
        assert [t.isoformat() for t in next_run_times(_recurrence(EVERY_3_WEEKS), 3, after)] == [
            "2026-06-08T13:00:00+00:00", "2026-06-11T13:00:00+00:00", "2026-06-29T13:00:00+00:00",
        ]  # fmt: skip
        # A run exactly at ``after`` is not after it.
        on_the_hour = datetime.datetime(2026, 5, 31, 3, 0, tzinfo=UTC)
        assert next_run_times("0 3 * * *", 1, on_the_hour)[0].isoformat() == "2026-06-01T03:00:00+00:00"
        assert next_run_times("@once", 5, after) == [after]
        assert next_run_times(None, 5, after) == []

    def test_a_bad_cron_is_a_schedule_error(self) -> None:
        with pytest.raises(ScheduleError, match="is not a schedule Airflow accepts"):
            next_run_times("61 * * * *")

    def test_render_still_names_the_line_of_a_bad_cron(self, tmp_path: Path) -> None:
        (tmp_path / "s.py").write_text("")
        (tmp_path / "p.yaml").write_text(
            "name: p\nschedule: '61 * * * *'\nsteps:\n  - {name: a, script: s.py}\n"
        )
        (spec,) = load_definition(str(tmp_path / "p.yaml"))
        with pytest.raises(DefinitionError, match=r"p\.yaml:2, field 'schedule'"):
            render_pipeline(spec)
