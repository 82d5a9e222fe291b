"""Azure ML SDK v1's ``ScheduleRecurrence`` and ``TimeZone`` (``azureml.pipeline.core.schedule``).

``Pipeline(..., schedule=ScheduleRecurrence(...))`` schedules the pipeline's DAG; the rules and what
each field means are :mod:`airflow_mlpipelines.pipeline.recurrence`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import ScheduleError
from airflow_mlpipelines.pipeline.callsite import caller_location
from airflow_mlpipelines.pipeline.recurrence import make_recurrence

if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch
    from airflow_mlpipelines.pipeline.recurrence import Recurrence


class ScheduleRecurrence:
    """``ScheduleRecurrence(frequency, interval, start_time, time_zone, hours, minutes, week_days,
    time_of_day)``: checked when it is built, so a broken rule is an error at the caller's line."""

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime.datetime | str | None = None,
        time_zone: str | None = None,
        hours: Sequence[int] | None = None,
        minutes: Sequence[int] | None = None,
        week_days: Sequence[str] | None = None,
        time_of_day: str | None = None,
    ) -> None:
        self.location = caller_location()
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.time_zone = time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day
        self.recurrence: Recurrence = self._validated()

    def validate(self) -> None:
        """The SDK's check (already done when the object was built; kept for ported code)."""
        self._validated()

    def _validated(self) -> Recurrence:
        try:
            return make_recurrence(
                self.frequency,
                self.interval,
                self.start_time,
                self.time_zone,
                self.hours,
                self.minutes,
                self.week_days,
                self.time_of_day,
            )
        except ScheduleError as exc:
            raise exc.at(self.location) from None


def schedule_value(
    value: object, location: SourceLocation
) -> str | Recurrence | AssetSchedule | DatastoreWatch | None:
    """``Pipeline(schedule=...)`` as the model: a ``ScheduleRecurrence``, a mapping in any of YAML's forms
    (recurrence, ``assets``, datastore watch), a cron string or preset, or None; a bad mapping is an error
    at the pipeline's line. The same parser as the Schedules page (``pipeline/schedules.py``)."""
    from airflow_mlpipelines.pipeline.schedules import parse_schedule as parse_any

    if isinstance(value, ScheduleRecurrence):
        return value.recurrence
    try:
        return parse_any(value, location)
    except ScheduleError as exc:
        raise exc.at(location) from None


class TimeZone:
    """The SDK's ``TimeZone`` names this package knows (``TimeZone.WEuropeStandardTime`` is
    ``"W. Europe Standard Time"``; the names of ``recurrence.WINDOWS_ZONES``); an IANA name such as
    ``"Europe/Amsterdam"`` works as well."""

    UTC = "UTC"
    CoordinatedUniversalTime = "Coordinated Universal Time"
    GMTStandardTime = "GMT Standard Time"
    GreenwichStandardTime = "Greenwich Standard Time"
    WEuropeStandardTime = "W. Europe Standard Time"
    CentralEuropeStandardTime = "Central Europe Standard Time"
    RomanceStandardTime = "Romance Standard Time"
    CentralEuropeanStandardTime = "Central European Standard Time"
    EEuropeStandardTime = "E. Europe Standard Time"
    FLEStandardTime = "FLE Standard Time"
    GTBStandardTime = "GTB Standard Time"
    RussianStandardTime = "Russian Standard Time"
    IsraelStandardTime = "Israel Standard Time"
    SouthAfricaStandardTime = "South Africa Standard Time"
    ArabianStandardTime = "Arabian Standard Time"
    IndiaStandardTime = "India Standard Time"
    ChinaStandardTime = "China Standard Time"
    SingaporeStandardTime = "Singapore Standard Time"
    TokyoStandardTime = "Tokyo Standard Time"
    KoreaStandardTime = "Korea Standard Time"
    AUSEasternStandardTime = "AUS Eastern Standard Time"
    EAustraliaStandardTime = "E. Australia Standard Time"
    NewZealandStandardTime = "New Zealand Standard Time"
    EasternStandardTime = "Eastern Standard Time"
    CentralStandardTime = "Central Standard Time"
    CanadaCentralStandardTime = "Canada Central Standard Time"
    MountainStandardTime = "Mountain Standard Time"
    USMountainStandardTime = "US Mountain Standard Time"
    PacificStandardTime = "Pacific Standard Time"
    AlaskanStandardTime = "Alaskan Standard Time"
    HawaiianStandardTime = "Hawaiian Standard Time"
    AtlanticStandardTime = "Atlantic Standard Time"
    SAPacificStandardTime = "SA Pacific Standard Time"
    ESouthAmericaStandardTime = "E. South America Standard Time"
