"""Airflow timetables for schedules cron cannot express (registered by the plugin, so Airflow can
deserialize them in the scheduler and API server)."""

from __future__ import annotations

from airflow_mlpipelines.timetables.recurrence import RecurrenceTimetable

__all__ = ["RecurrenceTimetable"]
