"""Render a :class:`PipelineSpec` into an Airflow DAG: one task group per step. No file I/O."""

from __future__ import annotations

import datetime
import importlib
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, TaskGroup

from airflow_mlpipelines.compute.base import STORAGE_FILTER
from airflow_mlpipelines.connections import plan_connections
from airflow_mlpipelines.dag_factory.assets import dag_schedule, lineage
from airflow_mlpipelines.dag_factory.compute_tasks import instantiate, task_spec
from airflow_mlpipelines.dag_factory.parallel import parallel_tasks
from airflow_mlpipelines.dag_factory.schedules import start_date
from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
from airflow_mlpipelines.pipeline.datapath import datapath_schema, file_datastores
from airflow_mlpipelines.pipeline.recurrence import Recurrence
from airflow_mlpipelines.pipeline.step_task import step_tasks
from airflow_mlpipelines.pipeline.validate import step_upstream
from airflow_mlpipelines.runtime.plan import REUSE_TASK_ID

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import NotifierSpec, ParameterSpec, PipelineSpec, TaskSettings
    from airflow_mlpipelines.pipeline.step_task import StepTask

TRIGGER_AFTER_UPSTREAM = "none_failed"
"""A reuse sensor runs when its producers succeeded *or were skipped because they were reused*."""


def _param(spec: ParameterSpec, datastores: Sequence[str]) -> Param:
    if spec.datapath:
        # A datastore path chosen per run: either form, on a declared file datastore (checked at trigger).
        return Param(spec.default, description=spec.description, **datapath_schema(datastores))
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
    if pipeline.doc_md:
        lines += [pipeline.doc_md, ""]
    if pipeline.source is not None:
        lines.append(f"Definition: `{pipeline.source.file}`")
    if pipeline.definition_text is not None and pipeline.source is not None:
        language = "python" if pipeline.source.file.endswith(".py") else "yaml"
        fence = "`" * max(4, _longest_backtick_run(pipeline.definition_text) + 1)
        lines += ["", DEFINITION_MARKER, f"{fence}{language}", pipeline.definition_text.rstrip("\n"), fence]
    return "\n".join(lines)


DEFINITION_MARKER = "<!-- mlpipelines:definition -->"
"""Marks the definition's code block in the DAG's docs (the plugin's definition page reads it there)."""


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


COMPUTE_ONLY = ("pool", "pool_slots", "execution_timeout", "priority_weight")
"""Settings of the compute task alone: the reuse task neither takes a slot of a step's pool (a GPU pool
is for the training, not for checking a manifest), nor runs under its time limit, nor jumps its queue."""


def airflow_arguments(
    settings: TaskSettings, where: SourceLocation | None, step: str | None
) -> dict[str, Any]:
    """Airflow operator arguments of task settings (only those set), as a hand-written DAG writes them."""
    arguments: dict[str, Any] = {}
    plain = (
        "owner",
        "retries",
        "queue",
        "retry_exponential_backoff",
        "pool",
        "pool_slots",
        "priority_weight",
    )
    for name in (*plain, "email_on_failure", "email_on_retry"):
        value = getattr(settings, name)
        if value is not None:
            arguments[name] = value
    for name, key in (
        ("retry_delay_seconds", "retry_delay"),
        ("max_retry_delay_seconds", "max_retry_delay"),
        ("execution_timeout_seconds", "execution_timeout"),
    ):
        value = getattr(settings, name)
        if value is not None:
            arguments[key] = datetime.timedelta(seconds=value)
    if settings.email is not None:
        arguments["email"] = list(settings.email)
    if settings.on_failure_notifiers:
        arguments["on_failure_callback"] = [_notifier(n, where, step) for n in settings.on_failure_notifiers]
    return arguments


def _notifier(spec: NotifierSpec, where: SourceLocation | None, step: str | None) -> Any:
    """An instance of the notifier class the definition names (a clear error if it cannot be built)."""
    from airflow.sdk import BaseNotifier

    module, _, name = spec.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DefinitionError(
            f"notifier {spec.class_path!r} cannot be imported: {exc}",
            location=where,
            step=step,
            field="on_failure_notifiers",
            hint="the import path of an Airflow notifier class, e.g. "
            "airflow.providers.smtp.notifications.smtp.SmtpNotifier (is its provider installed?)",
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise DefinitionError(
            f"{spec.class_path!r} is not an Airflow notifier (a BaseNotifier subclass)",
            location=where,
            step=step,
            field="on_failure_notifiers",
        )
    try:
        made: Any = cls(**dict(spec.args))  # type: ignore[arg-type]  # each notifier has its own arguments
        return made
    except TypeError as exc:
        raise DefinitionError(
            f"notifier {spec.class_path!r} does not take these args: {exc}",
            location=where,
            step=step,
            field="on_failure_notifiers.args",
        ) from None


def _task_arguments(task: StepTask, pipeline: PipelineSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(reuse task, compute task) arguments a step sets beyond the DAG's ``default_args`` (unset ones
    keep Airflow's defaults): its queue and retries for both, its own settings over the pipeline's; the
    compute-only settings (pool, time limit...) of the pipeline go to the compute task only."""
    own: dict[str, Any] = {}
    if task.queue:
        own["queue"] = task.queue
    if task.retries is not None:
        own["retries"] = task.retries
    if task.retry_delay_seconds is not None:
        own["retry_delay"] = datetime.timedelta(seconds=task.retry_delay_seconds)
    step = airflow_arguments(pipeline.step(task.step).settings, task.location, task.step)
    base = airflow_arguments(pipeline.default_args, pipeline.where("default_args"), None)
    reuse = {**{k: v for k, v in step.items() if k not in COMPUTE_ONLY}, **own}
    compute = {**{k: v for k, v in base.items() if k in COMPUTE_ONLY}, **step, **own}
    return reuse, compute


def schedule_error(pipeline: PipelineSpec, exc: Exception) -> DefinitionError:
    """The DAG's schedule was refused by Airflow: an error at the definition's ``schedule`` line."""
    shown = pipeline.schedule.summary() if isinstance(pipeline.schedule, Recurrence) else pipeline.schedule
    return DefinitionError(
        f"schedule {shown!r} is not one Airflow accepts: {exc}",
        location=pipeline.where("schedule"),
        field="schedule",
        hint="a cron expression ('0 3 * * *'), a preset (@daily, @hourly, @weekly, @once), a recurrence "
        "mapping ({frequency: Day, interval: 1, time_of_day: '06:30'}) or null",
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
    defaults = airflow_arguments(pipeline.default_args, pipeline.where("default_args"), None)
    options: dict[str, Any] = {}
    if pipeline.max_active_runs is not None:
        options["max_active_runs"] = pipeline.max_active_runs
    with DAG(
        dag_id=pipeline.name,
        description=pipeline.description,
        schedule=dag_schedule(pipeline),
        start_date=start_date(pipeline.schedule),
        catchup=pipeline.catchup,
        params={p.name: _param(p, file_datastores(pipeline.datastores)) for p in pipeline.parameters},
        tags=["mlpipelines", *pipeline.tags],
        doc_md=_doc(pipeline),
        default_args={k: v for k, v in defaults.items() if k not in COMPUTE_ONLY},
        **options,
        # Container steps get their storage credentials rendered from the plan at run time, masked.
        user_defined_filters={STORAGE_FILTER: plan_connections},
    ) as dag:
        groups: dict[str, TaskGroup] = {}
        for task in step_tasks(pipeline):
            # A step's queue (a Celery queue, e.g. the workers that have a GPU) and its retries hold for
            # both its tasks.
            reuse_args, compute_args = _task_arguments(task, pipeline)
            reuse_assets, compute_assets = lineage(pipeline, task)
            with TaskGroup(group_id=task.step, tooltip=f"{task.kind} {task.script_name}") as group:
                reuse = ReuseSensor(
                    task_id=REUSE_TASK_ID,
                    task=task,
                    arguments=task.argument_tokens(),
                    trigger_rule=TRIGGER_AFTER_UPSTREAM,
                    **reuse_args,
                    **reuse_assets,
                )
                if task.kind == "parallel_run":
                    parallel_tasks(task, reuse, reuse_args, compute_args, compute_assets)
                else:
                    reuse >> instantiate(task_spec(task), task, **compute_args, **compute_assets)
            groups[task.step] = group
        for name, upstream in step_upstream(pipeline).items():
            for up in upstream:
                groups[up] >> groups[name]
    return dag
