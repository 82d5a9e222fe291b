"""The forms of a pipeline's ``schedule``, read in one place for the Schedules page and ``Schedule.create``.

A schedule is ``None`` (triggered only), a cron expression or an Airflow preset (``@daily``), or a
mapping: Azure ML's recurrence form (``frequency``/``interval``/...). A schedule typed into the plugin's
page or stored by ``Schedule.create`` goes through the same rules as a definition's ``schedule:``, so
both accept and refuse the same things.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipelines.exceptions import ScheduleError
from airflow_mlpipelines.pipeline.recurrence import parse_schedule as parse_recurrence

__all__ = ["ScheduleError", "parse_schedule"]


def parse_schedule(value: Any) -> Any:
    """``value`` (JSON/YAML form: None, a string or a mapping) as the model's schedule.

    Raises :class:`ScheduleError` naming the field at fault.
    """
    if isinstance(value, str) and not value.strip():
        raise ScheduleError("a schedule string must not be empty (use null for no schedule)")
    return parse_recurrence(value.strip() if isinstance(value, str) else value)
