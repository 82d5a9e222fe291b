"""The forms of a pipeline's ``schedule``, read in one place for the Schedules page and ``Schedule.create``.

A schedule is ``None`` (triggered only), a cron expression or an Airflow preset (``@daily``), or a
mapping: Azure ML's recurrence form (``frequency``/``interval``/...), ``{assets: [...]}``, or a datastore
watch (``{datastore: ..., path_on_datastore: ...}``). A schedule typed into the plugin's page or stored by
``Schedule.create`` goes through the same rules as a definition's ``schedule:``, so both accept and refuse
the same things; :func:`check_against` then checks it against the pipeline (its parameters, datastores
and steps) as the definition's own would be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import DefinitionError, ScheduleError
from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch, check_schedule, datastore_watch
from airflow_mlpipelines.pipeline.recurrence import parse_schedule as parse_recurrence

if TYPE_CHECKING:
    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import PipelineSpec
    from airflow_mlpipelines.pipeline.recurrence import Recurrence

__all__ = ["ScheduleError", "check_against", "parse_schedule"]

_WATCH_KEYS = ("datastore", "path_on_datastore", "polling_interval", "data_path_parameter_name")


def parse_schedule(
    value: Any, location: SourceLocation | None = None
) -> str | Recurrence | AssetSchedule | DatastoreWatch | None:
    """``value`` (JSON/YAML form: None, a string or a mapping) as the model's schedule.

    Raises :class:`ScheduleError` naming the field at fault.
    """
    if isinstance(value, str) and not value.strip():
        raise ScheduleError("a schedule string must not be empty (use null for no schedule)")
    if isinstance(value, dict) and "assets" in value:
        return _assets(value, location)
    if isinstance(value, dict) and ("datastore" in value or "path_on_datastore" in value):
        return _watch(value, location)
    return parse_recurrence(value.strip() if isinstance(value, str) else value)


def _assets(value: dict[str, Any], location: SourceLocation | None) -> AssetSchedule:
    extra = sorted(set(value) - {"assets"})
    if extra:
        raise ScheduleError(f"unknown key {extra[0]!r} next to 'assets'", field=extra[0])
    assets = value["assets"]
    if not isinstance(assets, list) or not all(isinstance(a, str) and a for a in assets):
        raise ScheduleError("assets must be a list of asset URIs or names", field="assets")
    return AssetSchedule(tuple(assets), tuple(location for _ in assets))


def _watch(value: dict[str, Any], location: SourceLocation | None) -> DatastoreWatch:
    extra = sorted(set(value) - set(_WATCH_KEYS))
    if extra:
        raise ScheduleError(f"unknown key {extra[0]!r} of a datastore watch", field=extra[0])
    try:
        return datastore_watch(**value, location=location)
    except DefinitionError as exc:
        raise ScheduleError(exc.reason, field=exc.field, hint=exc.hint) from None
    except TypeError as exc:  # a missing datastore
        raise ScheduleError(f"a datastore watch needs 'datastore' ({exc})", field="datastore") from None


def check_against(schedule: Any, spec: PipelineSpec, where: SourceLocation | None) -> None:
    """Check a parsed schedule against the pipeline it is for (the watch's parameter and datastore, the
    assets' names), as :func:`~airflow_mlpipelines.pipeline.validate.build_pipeline` checks a definition's."""
    check_schedule(
        name=spec.name,
        schedule=schedule,
        steps=spec.steps,
        parameters=spec.parameters,
        datastores=spec.datastores,
        where=where,
    )
