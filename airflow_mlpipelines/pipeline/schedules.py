"""The forms a pipeline's ``schedule`` takes, in one place for definitions, the Schedules page and the SDK.

A schedule is ``None`` (triggered only), a cron expression or an Airflow preset (``@daily``), or a mapping:
Azure ML's recurrence form (``frequency``/``interval``/...). The same function reads a definition's
``schedule:`` and a schedule typed into the plugin's page, so both accept and refuse the same things.
"""

from __future__ import annotations

from typing import Any

from airflow_mlpipelines.exceptions import ScheduleFormError

__all__ = ["ScheduleFormError", "parse_schedule"]


def parse_schedule(value: Any) -> Any:
    """``value`` (JSON/YAML form: None, a string or a mapping) as the model's schedule.

    Raises :class:`ScheduleFormError` naming the field at fault.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ScheduleFormError("a schedule string must not be empty (use null for no schedule)")
        if text.lower() in ("none", "null"):
            return None
        return text
    raise ScheduleFormError(
        f"a schedule is null, a cron expression, a preset like '@daily' or a recurrence mapping, "
        f"got {type(value).__name__}"
    )
