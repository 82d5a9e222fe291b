"""A pipeline's schedule as Airflow's timetable: what the DAG gets, and the run times it yields.

``next_run_times`` walks the same timetable the scheduler uses (``next_dagrun_info`` without catch-up),
so the Schedules page previews exactly the runs the scheduler will create.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from airflow.timetables.base import Timetable


def core_timetable(schedule: Any) -> Timetable | None:
    """The scheduler-side timetable of ``schedule`` (None: no schedule)."""
    from airflow.timetables.simple import NullTimetable, OnceTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

    if schedule is None:
        return NullTimetable()
    if schedule == "@once":
        return OnceTimetable()
    if isinstance(schedule, str):
        return CronTriggerTimetable(schedule, timezone="UTC")
    raise TypeError(f"no timetable for schedule {schedule!r}")


def next_run_times(schedule: Any, count: int, after: datetime) -> list[datetime]:
    """The next ``count`` run times of ``schedule`` after ``after`` (fewer when it stops, none for None)."""
    import pendulum
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = core_timetable(schedule)
    if timetable is None:
        return []
    found: list[datetime] = []
    last: DataInterval | None = None
    restriction = TimeRestriction(earliest=pendulum.instance(after), latest=None, catchup=False)
    while len(found) < count:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            break
        found.append(info.run_after)
        last = info.data_interval
        restriction = TimeRestriction(earliest=info.run_after, latest=None, catchup=True)
    return found
