"""A schedule typed into the Schedules page or sent by ``Schedule.create``: checked, and its next runs.

The text is read as the definition's ``schedule:`` would be (a cron expression, a preset, ``none``, or
a YAML/JSON mapping such as ``{frequency: Day, interval: 2, hours: [6]}``), then turned into the
timetable the DAG factory would give Airflow, so what the page previews is what the scheduler will do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from airflow_mlpipelines.exceptions import RequestError, ScheduleError

PREVIEW_RUNS = 5


def read_text(text: str) -> Any:
    """The page's text field as a schedule value: a mapping when it starts with ``{``, else the string."""
    stripped = text.strip()
    if stripped.lower() in ("none", "null"):
        return None
    if not stripped.startswith("{"):
        return stripped
    try:
        return yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        raise RequestError(f"the schedule mapping is not valid YAML/JSON: {exc}", field="schedule") from None


def checked_schedule(value: Any) -> Any:
    """``value`` in the model's form, refused (``RequestError`` naming the field) as a definition would be."""
    from airflow_mlpipelines.pipeline.schedules import parse_schedule

    try:
        schedule = parse_schedule(value)
    except ScheduleError as exc:
        field = f"schedule.{exc.field}" if exc.field else "schedule"
        raise RequestError(str(exc) + (f" ({exc.hint})" if exc.hint else ""), field=field) from None
    if is_event_driven(schedule):
        return schedule
    try:
        next_runs(schedule, 1)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"schedule {value!r} is not one Airflow accepts: {exc}", field="schedule"
        ) from None
    return schedule


def check_for_dag(schedule: Any, parameters: dict[str, Any], dag: Any) -> None:
    """What the API server can check of a schedule against the DAG it is for, before storing it: the
    watch's parameter exists and takes a string, and the scheduled runs' parameter values fit the DAG's
    Params (their JSON schemas). What it cannot see (the definition's datastores) the DAG factory checks
    when it parses; a stored schedule that does not fit is then reported in the DAG's docs, and the
    definition's own schedule stays in force."""
    import jsonschema

    known = set(dag.params)
    watched = getattr(schedule, "data_path_parameter_name", None)
    if watched is not None:
        if watched not in known:
            raise RequestError(
                f"the pipeline has no parameter {watched!r} for the watched path "
                f"(its parameters: {', '.join(sorted(known)) or 'none'})",
                field="schedule.data_path_parameter_name",
            )
        kind = dag.params.get_param(watched).schema.get("type")
        if kind not in (None, "string"):
            raise RequestError(
                f"parameter {watched!r} gets the watched file's path, so it must be a string parameter "
                f"(it is {kind!r})",
                field="schedule.data_path_parameter_name",
            )
    for name, value in parameters.items():
        if name not in known:
            raise RequestError(
                f"the pipeline has no parameter {name!r} "
                f"(its parameters: {', '.join(sorted(known)) or 'none'})",
                field=f"pipeline_parameters.{name}",
            )
        try:
            jsonschema.validate(value, dag.params.get_param(name).schema)
        except jsonschema.ValidationError as exc:
            raise RequestError(
                f"pipeline_parameters.{name}: {value!r} is not valid: {exc.message}",
                field=f"pipeline_parameters.{name}",
            ) from None


def is_event_driven(schedule: Any) -> bool:
    """Whether runs start on asset events or new files (there are no run times to preview)."""
    from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch

    return isinstance(schedule, AssetSchedule | DatastoreWatch)


def describe(schedule: Any) -> str:
    """The schedule in words (what the page shows instead of run times for event-driven schedules)."""
    from airflow_mlpipelines.pipeline.assets import describe as describe_schedule

    return describe_schedule(schedule)


def next_runs(schedule: Any, count: int = PREVIEW_RUNS, after: datetime | None = None) -> list[datetime]:
    """The next ``count`` times the scheduler would start a run of ``schedule`` (none for ``None``)."""
    from airflow_mlpipelines.dag_factory.schedules import next_run_times

    if is_event_driven(schedule):
        return []
    return next_run_times(schedule, count, after or datetime.now(UTC))
