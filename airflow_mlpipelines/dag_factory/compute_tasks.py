"""A step's compute task for its target: our local operator, or the official Docker/Kubernetes operator."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import settings
from airflow_mlpipelines.compute.base import TaskSpec, missing_provider
from airflow_mlpipelines.operators.step_base import COMPUTE_TASK_ID, REUSE_TASK_ID
from airflow_mlpipelines.paths import local_path
from airflow_mlpipelines.pipeline.compute import step_env_vars, step_environment, step_image, step_target

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from airflow_mlpipelines.pipeline.model import PipelineSpec, StepSpec

LOCAL_OPERATOR = "airflow_mlpipelines.operators.python_script.PythonScriptStepOperator"
EPS_OPERATOR = "airflow_mlpipelines.operators.execute_python_script.ExecutePythonScriptOperator"


def compute_kwargs(pipeline: PipelineSpec, step: StepSpec) -> dict[str, Any]:
    """What the reuse sensor and a local compute task need to know about the step's target."""
    target = step_target(pipeline, step)
    kwargs: dict[str, Any] = {
        "compute_kind": target.kind,
        "environment": step_environment(pipeline, step),
        "container_source_directory": target.source_path,
    }
    return kwargs


def task_spec(pipeline: PipelineSpec, step: StepSpec, step_kwargs: dict[str, Any]) -> TaskSpec:
    """The compute task of ``step`` (a :class:`TaskSpec`; nothing is imported from a provider here)."""
    target = step_target(pipeline, step)
    if target.kind == "local":
        return TaskSpec(EPS_OPERATOR if step.eps is not None else LOCAL_OPERATOR, step_kwargs)
    image = step_image(pipeline, step) or ""
    env = step_env_vars(pipeline, step)
    try:
        if target.kind == "docker":
            from airflow_mlpipelines.compute.docker import docker_task

            datastores = [local_path(d.url) for d in pipeline.datastores if d.url]
            local_paths = [p for p in [local_path(settings.datastore_root()), *datastores] if p is not None]
            return docker_task(
                step=step.name,
                group=step.name,
                reuse_task_id=REUSE_TASK_ID,
                target=target,
                image=image,
                env=env,
                local_paths=local_paths,
                source_directory=step.source_directory,
            )
        from airflow_mlpipelines.compute.kubernetes import kubernetes_task

        return kubernetes_task(
            pipeline=pipeline.name,
            step=step.name,
            group=step.name,
            reuse_task_id=REUSE_TASK_ID,
            target=target,
            image=image,
            env=env,
        )
    except ImportError as exc:
        raise missing_provider(target.kind, target.name, step.name, exc, step.location) from None


def instantiate(spec: TaskSpec, step: StepSpec, target_kind: str, target_name: str) -> BaseOperator:
    """Import the operator class named by ``spec`` and build it as shipped (never subclassed)."""
    module_name, _, class_name = spec.operator_class.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise missing_provider(target_kind, target_name, step.name, exc, step.location) from None
    task: BaseOperator = cls(task_id=COMPUTE_TASK_ID, **spec.kwargs)
    return task
