"""Azure ML SDK v1's ``ScheduleRecurrence`` as a pure, validated value: rules, cron equivalent, summary.

The rules are the SDK's (``azureml.pipeline.core.schedule.ScheduleRecurrence``):

- ``frequency`` is ``Minute``, ``Hour``, ``Day``, ``Week`` or ``Month``; ``interval`` a positive integer:
  a run every ``interval`` frequency units.
- ``start_time`` is a naive datetime or a string ``YYYY-MM-DDThh:mm[:ss]`` read in ``time_zone`` (an
  offset in it is an error: the zone goes in ``time_zone``, as the SDK asks). Runs are anchored to it and
  none is earlier. Without it, runs are anchored at :data:`ORIGIN` (2024-01-01 00:00, a Monday, in the
  zone; the DAG's own start date): Azure anchored at the moment the schedule was created, which a DAG
  file that is re-parsed all the time cannot know, so the origin is fixed instead.
- ``time_zone`` is an IANA name (``Europe/Amsterdam``) or one of the SDK's ``TimeZone`` names
  (``W. Europe Standard Time``...; ``time_zones.WINDOWS_ZONES``); default UTC.
- ``hours`` (0-23) and ``minutes`` (0-59) only with ``Day`` or ``Week``; ``week_days`` (``Monday`` ...
  ``Sunday``) only with ``Week``; ``time_of_day`` (``hh:mm``) only with ``Day`` or ``Week`` and never
  together with ``hours``/``minutes``.

What the fields mean (:mod:`~airflow_mlpipelines.pipeline.recurrence_times` computes the run times):

- ``Minute``/``Hour``: ``start + k * interval`` units of *elapsed* time (a DST change does not shift them).
- ``Day``: every ``interval``-th calendar day counted from the start's date; ``Week``: on ``week_days``
  (default: the start's weekday) of every ``interval``-th week (Monday to Sunday) counted from the start's
  week; ``Month``: the start's day of the month in every ``interval``-th month counted from the start's
  month (a month without that day, e.g. the 31st, has no run, as in cron and RFC 5545).
- Times of day are *wall-clock* times in the zone: ``time_of_day``, or every ``hours`` x ``minutes``
  combination (whichever of the two is not given comes from the start: ``hours: [6, 18]`` alone runs at
  the start's minute), else the start's time of day (with its seconds). A wall time that does not exist
  (a DST gap) runs at the first instant after the gap; an ambiguous one (the hour repeated when DST ends)
  runs once, at its first occurrence.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ScheduleError, did_you_mean
from airflow_mlpipelines.pipeline.recurrence_times import next_after, prev_at_or_before, runs
from airflow_mlpipelines.pipeline.time_zones import WINDOWS_ZONES, zone_info

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
__all__ = [
    "FREQUENCIES",
    "ORIGIN",
    "WEEK_DAYS",
    "WINDOWS_ZONES",
    "Recurrence",
    "make_recurrence",
    "next_after",
    "parse_schedule",
    "prev_at_or_before",
    "runs",
    "zone_info",
]

FIELDS = ("frequency", "interval", "start_time", "time_zone", "hours", "minutes", "week_days", "time_of_day")

ORIGIN = datetime.datetime(2024, 1, 1)
"""The anchor of a recurrence without ``start_time`` (wall time in its zone): the DAG's start date
(``dag_factory.schedules.START_DATE``), a Monday at midnight on the first of a month."""

_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Recurrence:
    """A validated ``ScheduleRecurrence`` (see the module docstring for what each field means).

    Build it with :func:`make_recurrence` from loosely typed values (strings, lists); the constructor
    itself takes the normalised types and checks every rule, naming the field that breaks one.
    """

    frequency: str
    interval: int
    start_time: datetime.datetime | None = None
    """Naive: a wall time in ``time_zone``."""
    time_zone: str | None = None
    """As written (IANA or Windows name); None: UTC."""
    hours: tuple[int, ...] | None = None
    minutes: tuple[int, ...] | None = None
    week_days: tuple[str, ...] | None = None
    time_of_day: str | None = None
    """``hh:mm``."""

    def __post_init__(self) -> None:
        _check(self)

    @property
    def zone(self) -> ZoneInfo:
        """The zone the recurrence's wall times are read in."""
        return zone_info(self.time_zone or "UTC")

    @property
    def anchor(self) -> datetime.datetime:
        """The naive wall time runs are counted from: ``start_time``, else :data:`ORIGIN`."""
        return self.start_time if self.start_time is not None else ORIGIN

    def times_of_day(self) -> tuple[datetime.time, ...]:
        """The wall times of a run day, sorted (Day, Week and Month frequencies)."""
        anchor = self.anchor
        if self.time_of_day is not None:
            hour, minute = (int(p) for p in self.time_of_day.split(":"))
            return (datetime.time(hour, minute),)
        if self.hours is None and self.minutes is None:
            return (anchor.time(),)
        hours = self.hours if self.hours is not None else (anchor.hour,)
        minutes = self.minutes if self.minutes is not None else (anchor.minute,)
        return tuple(sorted({datetime.time(h, m) for h in hours for m in minutes}))

    def run_weekdays(self) -> tuple[int, ...]:
        """Weekday numbers (Monday 0) of a Week recurrence's runs."""
        if self.week_days is None:
            return (self.anchor.weekday(),)
        return tuple(sorted({WEEK_DAYS.index(d) for d in self.week_days}))

    def as_cron(self) -> str | None:
        """A cron expression with exactly these run times, or None when cron cannot say it exactly.

        Only in UTC: elsewhere cron implementations place DST-gap times differently from the rule
        above. Runs before ``start_time`` are not in the expression: the DAG's start date excludes them.
        """
        return _cron(self) if self.zone.key in _UTC_KEYS else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form :func:`parse_schedule` reads back (unset fields left out)."""
        data: dict[str, Any] = {"frequency": self.frequency, "interval": self.interval}
        if self.start_time is not None:
            data["start_time"] = self.start_time.isoformat()
        for name in ("time_zone", "hours", "minutes", "week_days", "time_of_day"):
            value = getattr(self, name)
            if value is not None:
                data[name] = list(value) if isinstance(value, tuple) else value
        return data

    def summary(self) -> str:
        """What a person reads in the UI: ``every 2 days at 06:30 Europe/Amsterdam``."""
        return describe(self)


def _check(r: Recurrence) -> None:
    """Every rule of the SDK, each error naming its field."""
    if r.frequency not in FREQUENCIES:
        raise ScheduleError(
            f"frequency must be one of {', '.join(FREQUENCIES)} (got {r.frequency!r})",
            field="frequency",
            hint=did_you_mean(str(r.frequency).capitalize(), FREQUENCIES),
        )
    if isinstance(r.interval, bool) or not isinstance(r.interval, int) or r.interval < 1:
        raise ScheduleError(f"interval must be a positive integer (got {r.interval!r})", field="interval")
    if r.start_time is not None and (r.start_time.tzinfo is not None or r.start_time.microsecond):
        raise ScheduleError(
            "start_time must be a wall time to the second without a UTC offset (got "
            f"{r.start_time.isoformat()})",
            field="start_time",
            hint="write the zone in time_zone, as the SDK asks",
        )
    if r.time_zone is not None:
        zone_info(r.time_zone)
    _check_list(r, "hours", 23)
    _check_list(r, "minutes", 59)
    _check_week_days(r)
    _check_time_of_day(r)


def _check_week_days(r: Recurrence) -> None:
    if r.week_days is None:
        return
    if r.frequency != "Week":
        raise ScheduleError("week_days can be given only with frequency Week", field="week_days")
    if not r.week_days:
        raise ScheduleError("week_days must name at least one day", field="week_days")
    for i, day in enumerate(r.week_days):
        if day not in WEEK_DAYS:
            raise ScheduleError(
                f"{day!r} is not a week day ({', '.join(WEEK_DAYS)})",
                field=f"week_days[{i}]",
                hint=did_you_mean(str(day).capitalize(), WEEK_DAYS),
            )


def _check_time_of_day(r: Recurrence) -> None:
    if r.time_of_day is None:
        return
    field = "time_of_day"
    if r.frequency not in ("Day", "Week"):
        raise ScheduleError("time_of_day can be given only with frequency Day or Week", field=field)
    if r.hours is not None or r.minutes is not None:
        raise ScheduleError("give either time_of_day or hours and minutes, not both", field=field)
    if not isinstance(r.time_of_day, str) or not _TIME_OF_DAY.fullmatch(r.time_of_day):
        raise ScheduleError(
            f"time_of_day must be 'hh:mm' (got {r.time_of_day!r})",
            field=field,
            hint="quote it in YAML: '16:30' (unquoted, YAML reads 16:30 as the number 990)",
        )


def _check_list(r: Recurrence, name: str, top: int) -> None:
    values = getattr(r, name)
    if values is None:
        return
    if r.frequency not in ("Day", "Week"):
        raise ScheduleError(f"{name} can be given only with frequency Day or Week", field=name)
    if not values:
        raise ScheduleError(f"{name} must list at least one value", field=name)
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise ScheduleError(
                f"{name} must be integers from 0 to {top} (got {value!r})", field=f"{name}[{i}]"
            )


def make_recurrence(
    frequency: object,
    interval: object,
    start_time: object = None,
    time_zone: object = None,
    hours: object = None,
    minutes: object = None,
    week_days: object = None,
    time_of_day: object = None,
) -> Recurrence:
    """A :class:`Recurrence` from the SDK's argument types (ISO string or datetime, lists...)."""
    return Recurrence(
        frequency=frequency,  # type: ignore[arg-type]  # checked by Recurrence
        interval=interval,  # type: ignore[arg-type]
        start_time=_start_time(start_time),
        time_zone=_optional_str(time_zone, "time_zone"),
        hours=_optional_tuple(hours, "hours"),
        minutes=_optional_tuple(minutes, "minutes"),
        week_days=_optional_tuple(week_days, "week_days"),
        time_of_day=time_of_day,  # type: ignore[arg-type]
    )


def _start_time(value: object) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time())
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ScheduleError(
        f"start_time must be a date and time 'YYYY-MM-DDThh:mm:ss' (got {value!r})", field="start_time"
    )


def _optional_str(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ScheduleError(f"{name} must be a string (got {value!r})", field=name)


def _optional_tuple(value: object, name: str) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    raise ScheduleError(f"{name} must be a list (got {value!r})", field=name)


def parse_schedule(value: object) -> str | Recurrence | None:
    """A definition's ``schedule`` value (JSON/YAML form) as the model: a cron string or preset (checked
    by Airflow when the DAG is rendered), None, or a recurrence mapping (checked here)."""
    if value is None or isinstance(value, str | Recurrence):
        return value
    if not isinstance(value, Mapping):
        raise ScheduleError(
            f"a schedule is a cron string, a preset, null or a recurrence mapping (got {value!r})",
        )
    for key in value:
        if key not in FIELDS:
            raise ScheduleError(f"unknown key {key!r}", field=str(key), hint=did_you_mean(str(key), FIELDS))
    for key in ("frequency", "interval"):
        if key not in value:
            raise ScheduleError(f"missing required key '{key}'", field=key)
    return make_recurrence(**{str(k): v for k, v in value.items()})


def _cron(r: Recurrence) -> str | None:
    """The UTC cron expression of ``r``, when there is an exact one."""
    anchor, n = r.anchor, r.interval
    if r.frequency == "Minute" and anchor.second == 0:
        if 60 % n == 0:
            return f"{_stepped(anchor.minute, n, 60, 0)} * * * *"
        if n % 60 == 0 and 24 % (n // 60) == 0:
            return f"{anchor.minute} {_stepped(anchor.hour, n // 60, 24, 0)} * * *"
        return None
    if r.frequency == "Hour" and anchor.second == 0 and 24 % n == 0:
        return f"{anchor.minute} {_stepped(anchor.hour, n, 24, 0)} * * *"
    times = r.times_of_day()
    if any(t.second for t in times):
        return None
    minutes = ",".join(str(m) for m in sorted({t.minute for t in times}))
    hours = ",".join(str(h) for h in sorted({t.hour for t in times}))
    if r.frequency == "Day" and n == 1:
        return f"{minutes} {hours} * * *"
    if r.frequency == "Week" and n == 1:
        # cron numbers Sunday 0; Monday is 0 here.
        days = ",".join(str(d) for d in sorted({(d + 1) % 7 for d in r.run_weekdays()}))
        return f"{minutes} {hours} * * {days}"
    if r.frequency == "Month" and 12 % n == 0:
        return f"{minutes} {hours} {anchor.day} {_stepped(anchor.month - 1, n, 12, 1)} *"
    return None


def _stepped(start: int, step: int, size: int, base: int) -> str:
    """The cron field of ``start + k * step`` modulo ``size`` (values offset by ``base``)."""
    if step == 1:
        return "*"
    values = sorted({(start + k * step) % size + base for k in range(size // step)})
    if start % step == 0 and base == 0:
        return f"*/{step}"
    return ",".join(str(v) for v in values)


_UNITS = {"Minute": "minute", "Hour": "hour", "Day": "day", "Week": "week", "Month": "month"}


def describe(r: Recurrence) -> str:
    """``every 2 days at 06:30 Europe/Amsterdam``; ``every 15 minutes UTC``; ``every week on Monday,
    Thursday at 09:00 UTC``."""
    unit = _UNITS[r.frequency]
    text = f"every {unit}" if r.interval == 1 else f"every {r.interval} {unit}s"
    if r.frequency == "Week":
        text += " on " + ", ".join(WEEK_DAYS[d] for d in r.run_weekdays())
    if r.frequency == "Month":
        text += f" on day {r.anchor.day}"
    if r.frequency in ("Day", "Week", "Month"):
        times = r.times_of_day()
        shown = ", ".join(t.isoformat("seconds" if t.second else "minutes") for t in times[:6])
        text += f" at {shown}" + (f" and {len(times) - 6} more times" if len(times) > 6 else "")
    if r.start_time is not None:
        text += f" from {r.start_time.isoformat(' ', 'seconds' if r.start_time.second else 'minutes')}"
    return f"{text} {r.time_zone or 'UTC'}"
