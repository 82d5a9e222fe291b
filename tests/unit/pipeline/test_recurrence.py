"""Azure ML SDK v1 recurrences: the rules, and run times checked against lists worked out by hand (with a
calendar: weekdays, month lengths and the DST dates of 2026 are written out, never computed here)."""

from __future__ import annotations

import datetime
import typing
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import ScheduleError
from airflow_mlpipelines.pipeline.recurrence import (
    FIELDS,
    FREQUENCIES,
    ORIGIN,
    WEEK_DAYS,
    WINDOWS_ZONES,
    Recurrence,
    make_recurrence,
    parse_schedule,
    zone_info,
)
from airflow_mlpipelines.pipeline.recurrence_times import (
    next_after,
    next_at_or_after,
    prev_at_or_before,
    resolve,
    runs,
)
from airflow_mlpipelines.pipeline.sdk_schedule import TimeZone

DAILY: dict[str, Any] = {"frequency": "Day", "interval": 1}
WEEKLY: dict[str, Any] = {"frequency": "Week", "interval": 1}


def _runs(schedule: dict[str, Any], after: str, count: int = 20) -> list[str]:
    recurrence = parse_schedule(schedule)
    assert isinstance(recurrence, Recurrence)
    return [t.isoformat() for t in runs(recurrence, datetime.datetime.fromisoformat(after), count)]


def _at(dates: list[str], time: str) -> list[str]:
    return [f"{d}T{time}" for d in dates]


class TestRunTimes:
    def test_every_15_minutes_across_amsterdam_spring_forward(self) -> None:
        # Elapsed time: 01:50 CET + 15 min is 03:05 CEST (02:00-03:00 does not exist on 2026-03-29).
        schedule = {"frequency": "Minute", "interval": 15, "start_time": "2026-03-01T00:05:00",
                    "time_zone": "Europe/Amsterdam"}  # fmt: skip
        assert _runs(schedule, "2026-03-29T01:00:00+01:00") == [
            "2026-03-29T01:05:00+01:00", "2026-03-29T01:20:00+01:00", "2026-03-29T01:35:00+01:00",
            "2026-03-29T01:50:00+01:00", "2026-03-29T03:05:00+02:00", "2026-03-29T03:20:00+02:00",
            "2026-03-29T03:35:00+02:00", "2026-03-29T03:50:00+02:00", "2026-03-29T04:05:00+02:00",
            "2026-03-29T04:20:00+02:00", "2026-03-29T04:35:00+02:00", "2026-03-29T04:50:00+02:00",
            "2026-03-29T05:05:00+02:00", "2026-03-29T05:20:00+02:00", "2026-03-29T05:35:00+02:00",
            "2026-03-29T05:50:00+02:00", "2026-03-29T06:05:00+02:00", "2026-03-29T06:20:00+02:00",
            "2026-03-29T06:35:00+02:00", "2026-03-29T06:50:00+02:00",
        ]  # fmt: skip

    def test_every_15_minutes_utc_from_the_origin(self) -> None:
        assert _runs({"frequency": "Minute", "interval": 15}, "2026-05-01T22:50:00+00:00") == [
            "2026-05-01T23:00:00+00:00", "2026-05-01T23:15:00+00:00", "2026-05-01T23:30:00+00:00",
            "2026-05-01T23:45:00+00:00", "2026-05-02T00:00:00+00:00", "2026-05-02T00:15:00+00:00",
            "2026-05-02T00:30:00+00:00", "2026-05-02T00:45:00+00:00", "2026-05-02T01:00:00+00:00",
            "2026-05-02T01:15:00+00:00", "2026-05-02T01:30:00+00:00", "2026-05-02T01:45:00+00:00",
            "2026-05-02T02:00:00+00:00", "2026-05-02T02:15:00+00:00", "2026-05-02T02:30:00+00:00",
            "2026-05-02T02:45:00+00:00", "2026-05-02T03:00:00+00:00", "2026-05-02T03:15:00+00:00",
            "2026-05-02T03:30:00+00:00", "2026-05-02T03:45:00+00:00",
        ]  # fmt: skip

    def test_every_3_hours_across_amsterdam_fall_back(self) -> None:
        # Elapsed time: 00:00 CEST + 3 h is 02:00 CET on 2026-10-25 (the clock went back at 03:00 CEST).
        schedule = {"frequency": "Hour", "interval": 3, "start_time": "2026-10-24T00:00:00",
                    "time_zone": "Europe/Amsterdam"}  # fmt: skip
        assert _runs(schedule, "2026-10-23T23:00:00+02:00") == [
            "2026-10-24T00:00:00+02:00", "2026-10-24T03:00:00+02:00", "2026-10-24T06:00:00+02:00",
            "2026-10-24T09:00:00+02:00", "2026-10-24T12:00:00+02:00", "2026-10-24T15:00:00+02:00",
            "2026-10-24T18:00:00+02:00", "2026-10-24T21:00:00+02:00", "2026-10-25T00:00:00+02:00",
            "2026-10-25T02:00:00+01:00", "2026-10-25T05:00:00+01:00", "2026-10-25T08:00:00+01:00",
            "2026-10-25T11:00:00+01:00", "2026-10-25T14:00:00+01:00", "2026-10-25T17:00:00+01:00",
            "2026-10-25T20:00:00+01:00", "2026-10-25T23:00:00+01:00", "2026-10-26T02:00:00+01:00",
            "2026-10-26T05:00:00+01:00", "2026-10-26T08:00:00+01:00",
        ]  # fmt: skip

    def test_every_hour_across_new_york_spring_forward(self) -> None:
        # 2026-03-08: 02:00 EST becomes 03:00 EDT; an elapsed hour after 01:00 EST is 03:00 EDT.
        schedule = {"frequency": "Hour", "interval": 1, "time_zone": "America/New_York"}
        assert _runs(schedule, "2026-03-07T21:30:00-05:00") == [
            "2026-03-07T22:00:00-05:00", "2026-03-07T23:00:00-05:00", "2026-03-08T00:00:00-05:00",
            "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00",
            "2026-03-08T05:00:00-04:00", "2026-03-08T06:00:00-04:00", "2026-03-08T07:00:00-04:00",
            "2026-03-08T08:00:00-04:00", "2026-03-08T09:00:00-04:00", "2026-03-08T10:00:00-04:00",
            "2026-03-08T11:00:00-04:00", "2026-03-08T12:00:00-04:00", "2026-03-08T13:00:00-04:00",
            "2026-03-08T14:00:00-04:00", "2026-03-08T15:00:00-04:00", "2026-03-08T16:00:00-04:00",
            "2026-03-08T17:00:00-04:00", "2026-03-08T18:00:00-04:00",
        ]  # fmt: skip

    def test_every_2_days_at_hours_and_minutes(self) -> None:
        # Days 0, 2, 4... from 2026-03-27; wall-clock times keep their hour across the 2026-03-29 change.
        schedule = {"frequency": "Day", "interval": 2, "start_time": "2026-03-27T00:00:00",
                    "time_zone": "Europe/Amsterdam", "hours": [18, 6], "minutes": [30, 0]}  # fmt: skip
        times = ["06:00:00", "06:30:00", "18:00:00", "18:30:00"]
        expected = [f"2026-03-27T{t}+01:00" for t in times]
        for day in ("2026-03-29", "2026-03-31", "2026-04-02", "2026-04-04"):
            expected += [f"{day}T{t}+02:00" for t in times]
        assert _runs(schedule, "2026-03-26T12:00:00+01:00") == expected

    def test_every_day_at_a_time_in_the_amsterdam_gap(self) -> None:
        # 02:30 does not exist on 2026-03-29: that day runs at 03:00 CEST, the end of the gap.
        schedule = {**DAILY, "time_of_day": "02:30", "time_zone": "Europe/Amsterdam"}
        expected = [*_at(["2026-03-27", "2026-03-28"], "02:30:00+01:00"), "2026-03-29T03:00:00+02:00"]
        days = ["2026-03-30", "2026-03-31"] + [f"2026-04-{d:02d}" for d in range(1, 16)]
        assert _runs(schedule, "2026-03-27T00:00:00+01:00") == expected + _at(days, "02:30:00+02:00")

    def test_every_day_at_an_ambiguous_amsterdam_time_runs_once(self) -> None:
        # 02:30 happens twice on 2026-10-25 (CEST, then CET): it runs at the first.
        schedule = {**DAILY, "time_of_day": "02:30", "time_zone": "Europe/Amsterdam"}
        summer = _at(["2026-10-20", "2026-10-21", "2026-10-22", "2026-10-23", "2026-10-24", "2026-10-25"],
                     "02:30:00+02:00")  # fmt: skip
        winter = _at([*(f"2026-10-{d}" for d in range(26, 32)), *(f"2026-11-0{d}" for d in range(1, 9))],
                     "02:30:00+01:00")  # fmt: skip
        assert _runs(schedule, "2026-10-20T00:00:00+02:00") == summer + winter

    def test_new_york_gap_and_fold(self) -> None:
        spring = {**DAILY, "time_of_day": "02:15", "time_zone": "Eastern Standard Time"}
        assert _runs(spring, "2026-03-06T00:00:00-05:00", 5) == [
            "2026-03-06T02:15:00-05:00", "2026-03-07T02:15:00-05:00", "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:15:00-04:00", "2026-03-10T02:15:00-04:00",
        ]  # fmt: skip
        # 2026-11-01: 02:00 EDT becomes 01:00 EST, so 01:30 happens twice; it runs once, at 01:30 EDT.
        fall = {**DAILY, "hours": [1], "minutes": [30], "time_zone": "America/New_York"}
        before = _at([f"2026-10-{d}" for d in range(25, 32)] + ["2026-11-01"], "01:30:00-04:00")
        after = _at([f"2026-11-{d:02d}" for d in range(2, 14)], "01:30:00-05:00")
        assert _runs(fall, "2026-10-25T00:00:00-04:00") == before + after

    def test_every_3_weeks_on_monday_and_thursday(self) -> None:
        # 2026-02-23 is a Monday; weeks 0, 3, 6... from its week. New York changes to EDT on 2026-03-08.
        schedule = {"frequency": "Week", "interval": 3, "week_days": ["Thursday", "Monday"],
                    "time_of_day": "09:00", "start_time": "2026-02-23T00:00:00",
                    "time_zone": "America/New_York"}  # fmt: skip
        edt = ["2026-03-16", "2026-03-19", "2026-04-06", "2026-04-09", "2026-04-27", "2026-04-30",
               "2026-05-18", "2026-05-21", "2026-06-08", "2026-06-11", "2026-06-29", "2026-07-02",
               "2026-07-20", "2026-07-23", "2026-08-10", "2026-08-13", "2026-08-31",
               "2026-09-03"]  # fmt: skip
        assert _runs(schedule, "2026-01-01T00:00:00-05:00") == (
            _at(["2026-02-23", "2026-02-26"], "09:00:00-05:00") + _at(edt, "09:00:00-04:00")
        )

    def test_every_month_on_the_31st_skips_shorter_months(self) -> None:
        schedule = {"frequency": "Month", "interval": 1, "start_time": "2026-01-31T06:00:00"}
        months = ["01", "03", "05", "07", "08", "10", "12"]
        days = [f"{y}-{m}-31" for y in (2026, 2027) for m in months] + [f"2028-{m}-31" for m in months[:6]]
        assert _runs(schedule, "2026-01-01T00:00:00+00:00") == _at(days, "06:00:00+00:00")

    def test_every_2_months_in_a_windows_zone(self) -> None:
        # W. Europe Standard Time is Europe/Berlin: CEST from the last Sunday of March to that of October.
        schedule = {"frequency": "Month", "interval": 2, "start_time": "2026-01-15T08:00:00",
                    "time_zone": "W. Europe Standard Time"}  # fmt: skip
        year = ["01-15T08:00:00+01:00", "03-15T08:00:00+01:00", "05-15T08:00:00+02:00",
                "07-15T08:00:00+02:00", "09-15T08:00:00+02:00", "11-15T08:00:00+01:00"]  # fmt: skip
        expected = [f"{y}-{d}" for y in (2026, 2027, 2028) for d in year] + [f"2029-{d}" for d in year[:2]]
        assert _runs(schedule, "2025-12-31T00:00:00+01:00") == expected

    def test_a_day_without_a_time_runs_at_the_start_time_and_never_before_it(self) -> None:
        schedule = {"frequency": "Day", "interval": 3, "start_time": "2026-06-10T07:45:30"}
        assert _runs(schedule, "2026-01-01T00:00:00+00:00", 3) == [
            "2026-06-10T07:45:30+00:00", "2026-06-13T07:45:30+00:00", "2026-06-16T07:45:30+00:00",
        ]  # fmt: skip

    def test_without_a_start_a_week_is_anchored_on_the_origin_monday(self) -> None:
        assert ORIGIN == datetime.datetime(2024, 1, 1)  # a Monday, the DAGs' start date
        assert _runs({"frequency": "Week", "interval": 2}, "2026-01-01T00:00:00+00:00", 3) == [
            "2026-01-12T00:00:00+00:00", "2026-01-26T00:00:00+00:00", "2026-02-09T00:00:00+00:00",
        ]  # fmt: skip

    def test_previous_and_aligned_runs(self) -> None:
        r = parse_schedule({"frequency": "Day", "interval": 1, "time_of_day": "06:30"})
        assert isinstance(r, Recurrence)
        at = datetime.datetime(2026, 5, 4, 6, 30, tzinfo=datetime.UTC)
        assert next_at_or_after(r, at) == at
        assert next_after(r, at) == at + datetime.timedelta(days=1)
        assert prev_at_or_before(r, at) == at
        assert prev_at_or_before(r, at - datetime.timedelta(seconds=1)) == at - datetime.timedelta(days=1)
        late = parse_schedule({"frequency": "Week", "interval": 1, "start_time": "2026-05-06T05:00:00",
                               "week_days": ["Monday"]})  # fmt: skip
        assert isinstance(late, Recurrence)
        # The start is a Wednesday: the first run is the Monday after it, nothing before.
        assert prev_at_or_before(late, datetime.datetime(2026, 5, 10, tzinfo=datetime.UTC)) is None
        monday = datetime.datetime(2026, 5, 11, 5, tzinfo=datetime.UTC)
        assert prev_at_or_before(late, monday + datetime.timedelta(days=6)) == monday  # Sunday 17th
        with pytest.raises(ValueError, match="aware"):
            next_after(r, datetime.datetime(2026, 1, 1))

    def test_a_leap_day_every_12_months_waits_for_leap_years(self) -> None:
        schedule = {"frequency": "Month", "interval": 12, "start_time": "2024-02-29T12:00:00"}
        assert _runs(schedule, "2024-01-01T00:00:00+00:00", 3) == [
            "2024-02-29T12:00:00+00:00", "2028-02-29T12:00:00+00:00", "2032-02-29T12:00:00+00:00",
        ]  # fmt: skip
        r = parse_schedule(schedule)
        assert isinstance(r, Recurrence)
        found = prev_at_or_before(r, datetime.datetime(2031, 6, 1, tzinfo=datetime.UTC))
        assert found == datetime.datetime(2028, 2, 29, 12, tzinfo=datetime.UTC)

    def test_resolve_gap_and_fold(self) -> None:
        zone = zone_info("Europe/Amsterdam")
        assert resolve(datetime.datetime(2026, 3, 29, 2, 0), zone).isoformat() == "2026-03-29T03:00:00+02:00"
        assert resolve(datetime.datetime(2026, 3, 29, 2, 59, 59), zone).isoformat() == (
            "2026-03-29T03:00:00+02:00"
        )
        assert resolve(datetime.datetime(2026, 10, 25, 2, 0), zone).isoformat() == "2026-10-25T02:00:00+02:00"


class TestCron:
    @pytest.mark.parametrize(
        ("schedule", "cron"),
        [
            ({"frequency": "Minute", "interval": 15}, "*/15 * * * *"),
            ({"frequency": "Minute", "interval": 1}, "* * * * *"),
            ({"frequency": "Minute", "interval": 20, "start_time": "2026-01-01T00:05:00"}, "5,25,45 * * * *"),
            ({"frequency": "Minute", "interval": 120}, "0 */2 * * *"),
            ({"frequency": "Hour", "interval": 3}, "0 */3 * * *"),
            ({"frequency": "Hour", "interval": 8, "start_time": "2026-01-01T01:10:00"}, "10 1,9,17 * * *"),
            ({"frequency": "Day", "interval": 1, "time_of_day": "06:30"}, "30 6 * * *"),
            ({"frequency": "Day", "interval": 1, "hours": [18, 6], "minutes": [0, 30]}, "0,30 6,18 * * *"),
            ({"frequency": "Week", "interval": 1, "week_days": ["Sunday", "Monday"], "time_of_day": "09:00"},
             "0 9 * * 0,1"),
            ({"frequency": "Week", "interval": 1}, "0 0 * * 1"),
            ({"frequency": "Month", "interval": 1, "start_time": "2026-01-31T06:00:00"}, "0 6 31 * *"),
            ({"frequency": "Month", "interval": 3, "start_time": "2026-02-10T06:00:00"}, "0 6 10 2,5,8,11 *"),
            ({"frequency": "Day", "interval": 1, "time_zone": "UTC"}, "0 0 * * *"),
        ],
    )  # fmt: skip
    def test_exact_cron(self, schedule: dict[str, Any], cron: str) -> None:
        r = parse_schedule(schedule)
        assert isinstance(r, Recurrence)
        assert r.as_cron() == cron

    @pytest.mark.parametrize(
        "schedule",
        [
            {"frequency": "Minute", "interval": 7},  # does not divide an hour
            {"frequency": "Minute", "interval": 15, "start_time": "2026-01-01T00:00:30"},  # seconds
            {"frequency": "Hour", "interval": 5},
            {"frequency": "Day", "interval": 2},  # */2 in cron restarts every month
            {"frequency": "Week", "interval": 2},
            {"frequency": "Month", "interval": 5},
            {"frequency": "Day", "interval": 1, "time_of_day": "06:30", "time_zone": "Europe/Amsterdam"},
        ],
    )
    def test_no_cron_when_not_exact(self, schedule: dict[str, Any]) -> None:
        r = parse_schedule(schedule)
        assert isinstance(r, Recurrence)
        assert r.as_cron() is None


class TestSummary:
    @pytest.mark.parametrize(
        ("schedule", "text"),
        [
            ({"frequency": "Day", "interval": 2, "time_of_day": "06:30", "time_zone": "Europe/Amsterdam"},
             "every 2 days at 06:30 Europe/Amsterdam"),
            ({"frequency": "Minute", "interval": 15}, "every 15 minutes UTC"),
            ({"frequency": "Hour", "interval": 1, "start_time": "2026-01-01T00:10:00"},
             "every hour from 2026-01-01 00:10 UTC"),
            ({"frequency": "Week", "interval": 1, "week_days": ["Thursday", "Monday"], "hours": [9]},
             "every week on Monday, Thursday at 09:00 UTC"),
            ({"frequency": "Month", "interval": 1}, "every month on day 1 at 00:00 UTC"),
        ],
    )  # fmt: skip
    def test_summary(self, schedule: dict[str, Any], text: str) -> None:
        r = parse_schedule(schedule)
        assert isinstance(r, Recurrence)
        assert r.summary() == text

    def test_round_trip_through_json(self) -> None:
        schedule = {"frequency": "Week", "interval": 3, "start_time": "2026-02-23T08:00:00",
                    "time_zone": "Pacific Standard Time", "hours": [8], "minutes": [0, 30],
                    "week_days": ["Monday"]}  # fmt: skip
        r = parse_schedule(schedule)
        assert isinstance(r, Recurrence)
        assert r.to_dict() == schedule
        assert parse_schedule(r.to_dict()) == r


class TestInvalid:
    @pytest.mark.parametrize(
        ("schedule", "field", "message"),
        [
            ({"frequency": "Minute", "interval": 5, "hours": [1]}, "hours", "only with frequency Day or W"),
            ({"frequency": "Month", "interval": 1, "minutes": [1]}, "minutes", "Day or Week"),
            ({**DAILY, "week_days": ["Monday"]}, "week_days", "only with frequency Week"),
            ({**WEEKLY, "week_days": ["Monday", "Thurday"]}, "week_days[1]", "not a week day"),
            ({**WEEKLY, "week_days": []}, "week_days", "at least one"),
            ({**DAILY, "time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone"),
            ({**DAILY, "time_zone": "../etc/passwd"}, "time_zone", "unknown time zone"),
            ({"frequency": "Daily", "interval": 1}, "frequency", "must be one of"),
            ({"frequency": "Day", "interval": 0}, "interval", "positive integer"),
            ({"frequency": "Day", "interval": True}, "interval", "positive integer"),
            ({"frequency": "Day", "interval": "2"}, "interval", "positive integer"),
            ({**DAILY, "hours": [24]}, "hours[0]", "0 to 23"),
            ({**DAILY, "minutes": [0, 60]}, "minutes[1]", "0 to 59"),
            ({**DAILY, "hours": 6}, "hours", "must be a list"),
            ({**DAILY, "time_of_day": "6.30"}, "time_of_day", "'hh:mm'"),
            ({**DAILY, "time_of_day": 990}, "time_of_day", "'hh:mm'"),
            ({**DAILY, "time_of_day": "06:30", "hours": [6]}, "time_of_day", "either"),
            ({"frequency": "Hour", "interval": 1, "time_of_day": "06:30"}, "time_of_day", "Day or Week"),
            ({**DAILY, "start_time": "tomorrow"}, "start_time", "YYYY-MM-DD"),
            ({**DAILY, "start_time": "2026-01-01T06:00:00+01:00"}, "start_time", "offset"),
            ({"frequency": "Day", "intervall": 1}, "intervall", "unknown key"),
            ({"frequency": "Day"}, "interval", "missing required key"),
        ],
    )  # fmt: skip
    def test_each_rule_names_its_field(self, schedule: dict[str, Any], field: str, message: str) -> None:
        with pytest.raises(ScheduleError, match=message) as caught:
            parse_schedule(schedule)
        assert caught.value.field == field
        assert isinstance(caught.value, ValueError)
        assert str(caught.value).startswith(f"schedule.{field}: ")

    def test_hints(self) -> None:
        with pytest.raises(ScheduleError) as caught:
            parse_schedule({"frequency": "Week", "interval": 1, "week_days": ["Thurday"]})
        assert caught.value.hint == "did you mean 'Thursday'?"
        with pytest.raises(ScheduleError) as caught:
            parse_schedule({"frequency": "Day", "interval": 1, "time_zone": "Europe/Amsterdm"})
        assert caught.value.hint == "did you mean 'Europe/Amsterdam'?"
        with pytest.raises(ScheduleError) as caught:
            parse_schedule({"frequency": "Day", "interval": 1, "time_of_day": 990})
        assert "quote it" in str(caught.value.hint)

    @pytest.mark.parametrize("value", [3, ["@daily"], 1.5])
    def test_not_a_schedule(self, value: object) -> None:
        with pytest.raises(ScheduleError, match="cron string, a preset, null or a recurrence mapping"):
            parse_schedule(value)

    def test_strings_and_none_pass_through(self) -> None:
        assert parse_schedule("@daily") == "@daily"
        assert parse_schedule(None) is None


class TestSdkNames:
    def test_time_zone_names_are_the_table(self) -> None:
        names = {v for k, v in vars(TimeZone).items() if not k.startswith("_")}
        assert names == set(WINDOWS_ZONES)
        for name, iana in WINDOWS_ZONES.items():
            assert zone_info(name).key == iana
        assert TimeZone.WEuropeStandardTime == "W. Europe Standard Time"

    def test_the_yaml_schema_names_the_same_values(self) -> None:
        from airflow_mlpipelines.pipeline.yaml_schema import RecurrenceModel, WeekDay

        assert typing.get_args(RecurrenceModel.model_fields["frequency"].annotation) == FREQUENCIES
        assert typing.get_args(WeekDay) == WEEK_DAYS
        assert set(RecurrenceModel.model_fields) == set(FIELDS)

    def test_make_recurrence_takes_datetimes_and_dates(self) -> None:
        r = make_recurrence("Day", 1, datetime.datetime(2026, 1, 1, 6), "UTC", [6], [0, 30])
        assert r.hours == (6,)
        assert r.minutes == (0, 30)
        day = make_recurrence("Day", 1, datetime.date(2026, 1, 2))
        assert day.start_time == datetime.datetime(2026, 1, 2)
        with pytest.raises(ScheduleError, match="offset"):
            make_recurrence("Day", 1, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
