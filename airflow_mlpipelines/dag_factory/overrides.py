"""A pipeline's schedule set outside its definition, applied when the DAG factory parses the definition.

Operators change a schedule in the plugin's page (or with ``Schedule.create``); the change is stored in
an Airflow Variable (``mlpipelines.schedule.<dag_id>``), never written into the definition file, which
may live in a read-only or git-backed DAG bundle. The DAG processor reads that Variable here on each
parse (one lookup per pipeline, through the Task SDK: the DAG processor's supervisor in a deployment,
the metadata database or ``AIRFLOW_VAR_*`` environment variables elsewhere), so the next parse shows the
new timetable in the UI and in ``GET /api/v2/dags/{dag_id}``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import DefinitionError, SourceLocation
from airflow_mlpipelines.pipeline.publishing import ScheduleRecord, schedule_key

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec

log = logging.getLogger(__name__)


def stored_schedule(dag_id: str) -> ScheduleRecord | None:
    """The schedule record of ``dag_id`` (None: none stored, or Variables cannot be reached here).

    Where no Variable backend answers (a bare interpreter with no metadata database), the definition's
    own schedule applies: that is logged, never raised, so a DAG file still imports. A record that is
    not one (a hand-edited Variable) is a :class:`DefinitionError` naming the Variable (which
    :func:`with_stored_schedule` reports in the DAG's docs).
    """
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowRuntimeError

    try:  # a backend that does not answer is logged by the Task SDK and reads as "not found"
        text = Variable.get(schedule_key(dag_id), default=None)
    except AirflowRuntimeError as exc:
        log.warning("Could not read the stored schedule of %s (%s); using the definition's", dag_id, exc)
        return None
    if text is None:
        return None
    try:
        return ScheduleRecord.from_json(str(text))
    except (ValueError, TypeError) as exc:
        raise DefinitionError(
            f"the stored schedule of pipeline {dag_id!r} (Airflow Variable {schedule_key(dag_id)!r}) "
            f"is not a schedule record: {exc}",
            field="schedule",
            hint="set the schedule again in the plugin's Schedules page, or delete the Variable",
        ) from None


def parse_stored(value: Any, dag_id: str, where: SourceLocation | None) -> Any:
    """A stored schedule in the model's form, checked as a definition's ``schedule`` would be."""
    from airflow_mlpipelines.pipeline.schedules import ScheduleError, parse_schedule

    try:
        return parse_schedule(value, where)
    except ScheduleError as exc:
        raise DefinitionError(
            f"the schedule stored for pipeline {dag_id!r} (Airflow Variable {schedule_key(dag_id)!r}) "
            f"is invalid: {exc}",
            location=where,
            field="schedule",
            hint="set it again in the plugin's Schedules page",
        ) from None


def apply(spec: PipelineSpec, record: ScheduleRecord) -> PipelineSpec:
    """``spec`` with the stored schedule (and parameter defaults of scheduled runs) in force.

    The DAG's docs say who set it, when, and what the definition says, so nobody wonders why the DAG
    does not run on the definition's schedule.
    """
    from airflow_mlpipelines.pipeline.schedules import check_against

    schedule = parse_stored(record.schedule, spec.name, spec.where("schedule"))
    try:
        check_against(schedule, spec, spec.where("schedule"))
    except DefinitionError as exc:
        raise DefinitionError(
            f"the schedule stored for pipeline {spec.name!r} (Airflow Variable {schedule_key(spec.name)!r}) "
            f"does not fit the pipeline: {exc.reason}",
            location=exc.location,
            field=exc.field,
            hint="set it again in the plugin's Schedules page",
        ) from None
    if record.status == "Disabled":
        schedule = None
    params = tuple(
        dataclasses.replace(p, default=record.pipeline_parameters[p.name])
        if p.name in record.pipeline_parameters
        else p
        for p in spec.parameters
    )
    state = "disabled" if record.status == "Disabled" else "in force"
    note = (
        f"**Schedule set outside the definition** ({state}): `{_show(record.schedule)}`, by "
        f"{record.changed_by} at {record.changed_at}"
        + (f" (schedule {record.name!r})" if record.name else "")
        + f"; the definition says `{_show(spec.schedule)}`."
    )
    doc = note if not spec.doc_md else f"{note}\n\n{spec.doc_md}"
    return dataclasses.replace(spec, schedule=schedule, parameters=params, doc_md=doc)


def _show(schedule: Any) -> str:
    """A schedule in words, whatever its form (a stored mapping as JSON)."""
    import json

    from airflow_mlpipelines.pipeline.assets import describe

    if schedule is None:
        return "none"
    if isinstance(schedule, dict | list):
        return json.dumps(schedule, sort_keys=True)
    return describe(schedule)


def with_stored_schedule(spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with its stored schedule applied, if one is stored.

    A stored schedule that cannot be applied (a hand-edited Variable, a watch on a datastore the
    definition no longer has) does not take the pipeline down: the definition's own schedule stays in
    force, the problem is logged, and the DAG's docs say what is wrong and how to fix it.
    """
    try:
        record = stored_schedule(spec.name)
        return spec if record is None else apply(spec, record)
    except DefinitionError as exc:
        log.error("Pipeline %s: %s", spec.name, exc)
        note = f"**The schedule stored outside the definition is not applied**: {exc}"
        doc = note if not spec.doc_md else f"{note}\n\n{spec.doc_md}"
        return dataclasses.replace(spec, doc_md=doc)
