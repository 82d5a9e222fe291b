"""The run times of a :class:`~airflow_mlpipelines.pipeline.recurrence.Recurrence` (pure, zoneinfo).

Minute and Hour frequencies count elapsed time from the start; Day, Week and Month place wall-clock
times on calendar days in the zone. A wall time inside a DST gap runs at the first instant after the gap
(the transition itself); an ambiguous wall time runs once, at its first occurrence (``fold=0``).
"""

from __future__ import annotations

import calendar
import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from zoneinfo import ZoneInfo

    from airflow_mlpipelines.pipeline.recurrence import Recurrence

UTC = datetime.UTC
_SEARCH_LIMIT = 100_000
"""More candidate days than any valid recurrence needs between two runs (a Feb 29 run every 12 months
waits 8 years at most); a guard against looping forever on a bug, never reached."""


def resolve(naive: datetime.datetime, zone: ZoneInfo) -> datetime.datetime:
    """The instant of wall time ``naive`` in ``zone``: its first occurrence if the clock shows it twice,
    the end of the gap if the clock skips it."""
    first = naive.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == naive:
        return utc.astimezone(zone)
    # In a gap, fold=0 reads the wall time with the offset before the change (a later instant) and
    # fold=1 with the one after (an earlier instant); the gap ends between the two, at a whole second.
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    high = int(utc.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return datetime.datetime.fromtimestamp(high, zone)


def _utc(when: datetime.datetime) -> datetime.datetime:
    """``when`` as a plain stdlib datetime in UTC (a subclass such as pendulum's does its own arithmetic)."""
    if when.tzinfo is None:
        raise ValueError(f"an aware datetime is needed, got {when.isoformat()}")
    u = when.astimezone(UTC)
    return datetime.datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


def start_instant(r: Recurrence) -> datetime.datetime:
    """The first instant a run may have: the anchor (start time or origin) in the zone."""
    return resolve(r.anchor, r.zone)


def next_after(r: Recurrence, after: datetime.datetime) -> datetime.datetime:
    """The first run strictly after ``after`` (an aware datetime), in the recurrence's zone."""
    after = _utc(after)
    zone, start = r.zone, start_instant(r)
    if r.frequency in ("Minute", "Hour"):
        step = datetime.timedelta(minutes=r.interval if r.frequency == "Minute" else 60 * r.interval)
        if after < start:
            return start
        # Elapsed time: count in UTC, where adding a timedelta is not wall-clock arithmetic.
        count = (after.astimezone(UTC) - start.astimezone(UTC)) // step + 1
        return (start.astimezone(UTC) + count * step).astimezone(zone)
    times = r.times_of_day()
    first_day = max(r.anchor.date(), after.astimezone(zone).date() - datetime.timedelta(days=1))
    for day in _days(r, first_day):
        for time in times:
            run = resolve(datetime.datetime.combine(day, time), zone)
            if run > after and run >= start:
                return run
    raise AssertionError(f"no run found for {r!r} after {after}")  # pragma: no cover


def next_at_or_after(r: Recurrence, when: datetime.datetime) -> datetime.datetime:
    """``when`` itself if a run is then, else the next run."""
    return next_after(r, when - datetime.timedelta(microseconds=1))


def prev_at_or_before(r: Recurrence, when: datetime.datetime) -> datetime.datetime | None:
    """The last run at or before ``when``; None if there is none (``when`` is before the start)."""
    when = _utc(when)
    start = start_instant(r)
    if when < start:
        return None
    if r.frequency in ("Minute", "Hour"):
        step = datetime.timedelta(minutes=r.interval if r.frequency == "Minute" else 60 * r.interval)
        count = (when.astimezone(UTC) - start.astimezone(UTC)) // step
        return (start.astimezone(UTC) + count * step).astimezone(r.zone)
    # Look back one period, then further, until a run is found; walk forward to the last one <= when.
    span = datetime.timedelta(days=2 * r.interval * {"Day": 1, "Week": 7, "Month": 31}[r.frequency])
    while True:
        low = max(when - span, start - datetime.timedelta(microseconds=1))
        run = next_after(r, low)
        if run <= when:
            while (following := next_after(r, run)) <= when:
                run = following
            return run
        if low < start:
            return None  # e.g. a start at 05:00 and runs at 06:30: none by 05:30
        span *= 2


def runs(r: Recurrence, after: datetime.datetime, count: int) -> list[datetime.datetime]:
    """The next ``count`` runs strictly after ``after``."""
    found: list[datetime.datetime] = []
    for _ in range(count):
        after = next_after(r, after)
        found.append(after)
    return found


def _days(r: Recurrence, first: datetime.date) -> Iterator[datetime.date]:
    """The calendar days (from ``first`` on, ascending) on which ``r`` has runs."""
    anchor = r.anchor.date()
    n = r.interval
    if r.frequency == "Day":
        day = first + datetime.timedelta(days=-(first - anchor).days % n)
        for _ in range(_SEARCH_LIMIT):
            yield day
            day += datetime.timedelta(days=n)
    elif r.frequency == "Week":
        weekdays = r.run_weekdays()
        anchor_monday = anchor - datetime.timedelta(days=anchor.weekday())
        day = first
        for _ in range(_SEARCH_LIMIT):
            week = (day - anchor_monday).days // 7
            if week % n:
                day = anchor_monday + datetime.timedelta(weeks=(week // n + 1) * n)
                continue
            if day.weekday() in weekdays:
                yield day
            day += datetime.timedelta(days=1)
    else:
        month = (first.year - anchor.year) * 12 + first.month - anchor.month
        month += -month % n
        for _ in range(_SEARCH_LIMIT):
            year, index = divmod(anchor.year * 12 + anchor.month - 1 + month, 12)
            if anchor.day <= calendar.monthrange(year, index + 1)[1]:
                day = datetime.date(year, index + 1, anchor.day)
                if day >= first:
                    yield day
            month += n
