"""Render a :class:`PipelineSpec` into an Airflow DAG: one task group per step. No file I/O."""

from __future__ import annotations

import datetime
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup

from airflow_mlpipelines.dag_factory.compute_tasks import compute_kwargs, instantiate, task_spec
from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
from airflow_mlpipelines.operators.step_base import REUSE_TASK_ID
from airflow_mlpipelines.pipeline.compute import step_target
from airflow_mlpipelines.pipeline.model import Argument, ParameterSpec, PipelineSpec, Ref, StepSpec
from airflow_mlpipelines.pipeline.validate import step_upstream

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


def _argument(arg: Argument) -> list[str | dict[str, str]]:
    return [{p.kind: p.name} if isinstance(p, Ref) else p for p in arg.parts]


def _inputs(pipeline: PipelineSpec, step: StepSpec, producers: dict[str, str]) -> dict[str, dict[str, Any]]:
    datasets = {d.name: d for d in pipeline.datasets}
    result: dict[str, dict[str, Any]] = {}
    for name in step.inputs:
        if name in producers:
            result[name] = {"step": producers[name]}
        else:
            ds = datasets[name]
            result[name] = {"datastore": ds.datastore, "path": ds.paths[0], "mode": ds.mode}
    return result


def _step_kwargs(
    pipeline: PipelineSpec, step: StepSpec, producers: dict[str, str], datastores: dict[str, str | None]
) -> dict[str, Any]:
    """The arguments a step's reuse sensor and compute task share."""
    used_parameters = sorted({r.name for a in step.arguments for r in a.refs if r.kind == "parameter"})
    return {
        "pipeline": pipeline.name,
        "step": step.name,
        "kind": step.kind,
        "script_name": step.script_name,
        "source_directory": step.source_directory,
        "arguments": [_argument(a) for a in step.arguments],
        "inputs": _inputs(pipeline, step, producers),
        "outputs": {o.name: o.datastore for o in step.outputs},
        "datastores": datastores,
        "parameters": used_parameters,
        "compute": step.compute.name,
        "allow_reuse": step.allow_reuse,
        "hash_paths": list(step.hash_paths),
        "version": step.version,
        **compute_kwargs(pipeline, step),
    }


def _eps_settings(step: StepSpec) -> dict[str, Any]:
    """An Execute Python Script step's settings, as both of its tasks receive them (``eps=``)."""
    eps = step.eps
    assert eps is not None  # noqa: S101 - only called for such steps
    where = None
    if eps.script is not None and step.location is not None and eps.script_line is not None:
        where = f"{step.location.file}:{eps.script_line}"
    return {
        "script": eps.script,
        "script_file": eps.script_file,
        "script_where": where,
        "bundle": eps.bundle,
        "ports": dict(eps.ports),
        "dataframe_output": eps.dataframe_output,
        "visualizations_output": eps.visualizations_output,
        "time_limit_seconds": eps.time_limit_seconds,
        "memory_limit_mb": eps.memory_limit_mb,
    }


def _doc(pipeline: PipelineSpec) -> str:
    lines = [f"### Pipeline `{pipeline.name}`", ""]
    if pipeline.description:
        lines += [pipeline.description, ""]
    if pipeline.source is not None:
        lines.append(f"Definition: `{pipeline.source.file}`")
    return "\n".join(lines)


def render_pipeline(pipeline: PipelineSpec) -> DAG:
    """Build the DAG: dag_id = pipeline name, Params from pipeline parameters, edges from data."""
    producers = pipeline.producers()
    datastores = {d.name: d.url for d in pipeline.datastores}
    parameters = [p.name for p in pipeline.parameters]
    with DAG(
        dag_id=pipeline.name,
        description=pipeline.description,
        schedule=pipeline.schedule,
        start_date=START_DATE,
        catchup=False,
        params={p.name: _param(p) for p in pipeline.parameters},
        tags=["mlpipelines", *pipeline.tags],
        doc_md=_doc(pipeline),
    ) as dag:
        groups: dict[str, TaskGroup] = {}
        for step in pipeline.steps:
            step_kwargs = _step_kwargs(pipeline, step, producers, datastores)
            if step.eps is not None:
                step_kwargs["eps"] = _eps_settings(step)
            with TaskGroup(group_id=step.name, tooltip=f"python {step.script_name}") as group:
                target = step_target(pipeline, step)
                reuse = ReuseSensor(
                    task_id=REUSE_TASK_ID,
                    known_parameters=parameters,
                    trigger_rule=TRIGGER_AFTER_UPSTREAM,
                    docker_url=target.docker_url,
                    **step_kwargs,
                )
                reuse >> instantiate(task_spec(pipeline, step, step_kwargs), step, target.kind, target.name)
            groups[step.name] = group
        for name, upstream in step_upstream(pipeline).items():
            for up in upstream:
                groups[up] >> groups[name]
    return dag
