"""Render a :class:`PipelineSpec` into an Airflow DAG: one task group per step. No file I/O."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, TaskGroup

from airflow_mlpipelines.compute.base import STORAGE_FILTER
from airflow_mlpipelines.connections import plan_connections
from airflow_mlpipelines.dag_factory.compute_tasks import instantiate, task_spec
from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
from airflow_mlpipelines.pipeline.step_task import step_tasks
from airflow_mlpipelines.pipeline.validate import step_upstream
from airflow_mlpipelines.runtime.plan import REUSE_TASK_ID

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import ParameterSpec, PipelineSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask

START_DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
"""Fixed, so re-parsing never moves it; ``catchup`` is off, so no backfill is created."""

TRIGGER_AFTER_UPSTREAM = "none_failed"
"""A reuse sensor runs when its producers succeeded *or were skipped because they were reused*."""


def _param(spec: ParameterSpec) -> Param:
    schema: dict[str, Any] = {}
    if spec.type is not None:
        # A typed parameter without a default is required: None fails validation when a run starts.
        schema["type"] = spec.type
    if spec.enum is not None:
        schema["enum"] = list(spec.enum)
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return Param(spec.default, description=spec.description, **schema)


def _doc(pipeline: PipelineSpec) -> str:
    lines = [f"### Pipeline `{pipeline.name}`", ""]
    if pipeline.description:
        lines += [pipeline.description, ""]
    if pipeline.source is not None:
        lines.append(f"Definition: `{pipeline.source.file}`")
    return "\n".join(lines)


def _task_arguments(task: StepTask) -> dict[str, Any]:
    """Operator arguments the step sets for both of its tasks (unset ones keep Airflow's defaults)."""
    arguments: dict[str, Any] = {}
    if task.queue:
        arguments["queue"] = task.queue
    if task.retries is not None:
        arguments["retries"] = task.retries
    if task.retry_delay_seconds is not None:
        arguments["retry_delay"] = datetime.timedelta(seconds=task.retry_delay_seconds)
    return arguments


def schedule_error(pipeline: PipelineSpec, exc: Exception) -> DefinitionError:
    return DefinitionError(
        f"schedule {pipeline.schedule!r} is not one Airflow accepts: {exc}",
        location=pipeline.where("schedule"),
        field="schedule",
        hint="a cron expression ('0 3 * * *'), a preset (@daily, @hourly, @weekly, @once) or null",
    )


def check_schedule(dag: DAG, pipeline: PipelineSpec) -> None:
    """Validate the timetable as Airflow does when it stores the DAG (otherwise the DAG file only fails
    later, in the DAG processor, without naming the definition's line)."""
    from airflow.exceptions import AirflowTimetableInvalid

    try:
        dag.timetable.validate()
    except (AirflowTimetableInvalid, ValueError) as exc:
        raise schedule_error(pipeline, exc) from None


def render_pipeline(pipeline: PipelineSpec) -> DAG:
    """Build the DAG: dag_id = pipeline name, Params from pipeline parameters, edges from data."""
    try:
        dag = _dag(pipeline)
    except ValueError as exc:  # e.g. @continuous with more than one active run
        if pipeline.schedule is not None and ("imetable" in str(exc) or "schedule" in str(exc).lower()):
            raise schedule_error(pipeline, exc) from None
        raise
    check_schedule(dag, pipeline)
    return dag


def _dag(pipeline: PipelineSpec) -> DAG:
    with DAG(
        dag_id=pipeline.name,
        description=pipeline.description,
        schedule=pipeline.schedule,
        start_date=START_DATE,
        catchup=False,
        params={p.name: _param(p) for p in pipeline.parameters},
        tags=["mlpipelines", *pipeline.tags],
        doc_md=_doc(pipeline),
        # Container steps get their storage credentials rendered from the plan at run time, masked.
        user_defined_filters={STORAGE_FILTER: plan_connections},
    ) as dag:
        groups: dict[str, TaskGroup] = {}
        for task in step_tasks(pipeline):
            # A step's queue (a Celery queue, e.g. the workers that have a GPU) and its retries hold for
            # both its tasks.
            queue = _task_arguments(task)
            with TaskGroup(group_id=task.step, tooltip=f"{task.kind} {task.script_name}") as group:
                reuse = ReuseSensor(
                    task_id=REUSE_TASK_ID,
                    task=task,
                    arguments=task.argument_tokens(),
                    trigger_rule=TRIGGER_AFTER_UPSTREAM,
                    **queue,
                )
                reuse >> instantiate(task_spec(task), task, **queue)
            groups[task.step] = group
        for name, upstream in step_upstream(pipeline).items():
            for up in upstream:
                groups[up] >> groups[name]
    return dag
