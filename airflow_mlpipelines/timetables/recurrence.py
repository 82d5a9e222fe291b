"""``RecurrenceTimetable``: an Azure ML ``ScheduleRecurrence`` as an Airflow timetable.

Runs behave like Airflow's ``CronTriggerTimetable`` (what a cron string becomes in Airflow 3): each run's
data interval is the instant it runs at, and without ``catchup`` the most recent missed run is started
once, then the schedule goes on. The run times are :mod:`airflow_mlpipelines.pipeline.recurrence_times`'s.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from airflow._shared.timezones.timezone import coerce_datetime, utcnow
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

from airflow_mlpipelines.pipeline.recurrence import Recurrence, parse_schedule
from airflow_mlpipelines.pipeline.recurrence_times import next_after, next_at_or_after, prev_at_or_before

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction
    from pendulum import DateTime


class RecurrenceTimetable(Timetable):
    """Runs at the times of a :class:`~airflow_mlpipelines.pipeline.recurrence.Recurrence`.

    :param recurrence: the validated recurrence (``parse_schedule`` builds one from its JSON form).
    """

    def __init__(self, recurrence: Recurrence) -> None:
        self.recurrence = recurrence
        self.description = recurrence.summary()

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from :meth:`serialize`'s output (the recurrence's JSON form)."""
        recurrence = parse_schedule(data["recurrence"])
        if not isinstance(recurrence, Recurrence):
            raise ValueError(f"not a recurrence: {data!r}")
        return cls(recurrence)

    def serialize(self) -> dict[str, Any]:
        """The recurrence's JSON form (read back by :meth:`deserialize`)."""
        return {"recurrence": self.recurrence.to_dict()}

    def __eq__(self, other: object) -> bool:
        """Equal when the recurrences are (as Airflow's own timetables compare)."""
        if not isinstance(other, RecurrenceTimetable):
            return NotImplemented
        return self.recurrence == other.recurrence

    def __hash__(self) -> int:
        return hash(self.recurrence)

    @property
    def summary(self) -> str:
        """``every 2 days at 06:30 Europe/Amsterdam``: shown in the UI's schedule column."""
        return self.description

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run's data interval is its own instant, as for a scheduled run."""
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The next run: after the last one; without catchup never earlier than the latest past run
        time; never before ``restriction.earliest`` (the DAG's start date) nor after ``latest``."""
        candidates: list[datetime.datetime] = []
        if last_automated_data_interval is not None:
            candidates.append(next_after(self.recurrence, last_automated_data_interval.end))
        elif restriction.earliest is not None:
            candidates.append(next_at_or_after(self.recurrence, restriction.earliest))
        else:
            candidates.append(next_at_or_after(self.recurrence, utcnow()))
        if not restriction.catchup:
            now = utcnow()
            latest_past = prev_at_or_before(self.recurrence, now)
            candidates.append(latest_past if latest_past is not None else next_after(self.recurrence, now))
            if restriction.earliest is not None:
                candidates.append(next_at_or_after(self.recurrence, restriction.earliest))
        run = coerce_datetime(max(candidates).astimezone(datetime.UTC))
        if restriction.latest is not None and run > restriction.latest:
            return None
        return DagRunInfo.exact(run)
