"""A definition's ``schedule`` as Airflow takes it, and a preview of its next run times."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import ScheduleError
from airflow_mlpipelines.pipeline.recurrence import Recurrence
from airflow_mlpipelines.pipeline.recurrence_times import start_instant
from airflow_mlpipelines.timetables.recurrence import RecurrenceTimetable

if TYPE_CHECKING:
    from airflow.timetables.base import Timetable

START_DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
"""Every DAG's start date (fixed, so re-parsing never moves it; ``catchup`` is off by default, so no
backfill is created); a recurrence's ``start_time`` moves it later. ``recurrence.ORIGIN`` matches it."""


def airflow_schedule(schedule: str | Recurrence | None) -> str | RecurrenceTimetable | None:
    """What the DAG's ``schedule`` is: a cron string or preset as written, a recurrence's exact cron
    equivalent, else the plugin's :class:`RecurrenceTimetable`."""
    if not isinstance(schedule, Recurrence):
        return schedule
    cron = schedule.as_cron()
    return cron if cron is not None else RecurrenceTimetable(schedule)


def start_date(schedule: object) -> datetime.datetime:
    """The DAG's start date: a recurrence's start (so a cron equivalent never runs before it), at the
    earliest :data:`START_DATE`."""
    if isinstance(schedule, Recurrence) and schedule.start_time is not None:
        return max(START_DATE, start_instant(schedule).astimezone(datetime.UTC))
    return START_DATE


def core_timetable(schedule: str | Recurrence | None) -> Timetable:
    """The timetable the scheduler will use for ``schedule`` (built by Airflow from the DAG argument,
    so the ``[scheduler] create_cron_data_intervals`` setting is honoured); a bad cron is a ScheduleError."""
    from airflow.exceptions import AirflowTimetableInvalid
    from airflow.sdk import DAG
    from airflow.serialization.encoders import coerce_to_core_timetable

    try:
        dag = DAG(
            "mlpipelines_schedule_preview",
            schedule=airflow_schedule(schedule),
            start_date=start_date(schedule),
        )
        timetable = coerce_to_core_timetable(dag.timetable)
        timetable.validate()
    except (AirflowTimetableInvalid, ValueError, TypeError) as exc:
        if isinstance(exc, ScheduleError):
            raise
        raise ScheduleError(f"{schedule!r} is not a schedule Airflow accepts: {exc}") from None
    return timetable


def next_run_times(
    schedule: str | Recurrence | None, n: int = 5, after: datetime.datetime | None = None
) -> list[datetime.datetime]:
    """The next ``n`` run times (UTC) strictly after ``after`` (default: now), as the scheduler computes
    them with catchup; fewer when the schedule ends (``@once``: one; None: none)."""
    from airflow._shared.timezones.timezone import coerce_datetime, utcnow
    from airflow.timetables.base import TimeRestriction

    timetable = core_timetable(schedule)
    if not timetable.can_be_scheduled:
        return []
    begin = coerce_datetime(after if after is not None else utcnow())
    earliest = max(begin, coerce_datetime(start_date(schedule)))
    restriction = TimeRestriction(earliest=earliest, latest=None, catchup=True)
    times: list[datetime.datetime] = []
    last = None
    for _ in range(n + 1):  # one more: a periodic schedule's run at ``after`` itself is not "after"
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None or (times and info.run_after <= times[-1]):
            break  # the schedule ended (@once), or it does not move on (@continuous)
        last = info.data_interval
        if not (timetable.periodic and info.run_after <= begin):
            times.append(info.run_after.astimezone(datetime.UTC))
        if len(times) == n or last is None:
            break
    return times
