"""A step's compute task: its compute kind's ``TaskSpec``, instantiated as shipped (never subclassed)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import TaskSpec, missing_provider
from airflow_mlpipelines.compute.registry import compute_kind
from airflow_mlpipelines.runtime.plan import COMPUTE_TASK_ID

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from airflow_mlpipelines.pipeline.step_task import StepTask


def task_spec(task: StepTask) -> TaskSpec:
    """The compute task of a step, from its compute kind (nothing is read from settings or disk)."""
    try:
        return compute_kind(task.compute_kind).task_spec(task)
    except ImportError as exc:
        raise missing_provider(task.compute_kind, task.target.name, task.step, exc, task.location) from None


def instantiate(spec: TaskSpec, task: StepTask, **options: Any) -> BaseOperator:
    """Import the operator class named by ``spec`` and build it as shipped (``options``: Airflow's own
    operator arguments, such as ``queue``)."""
    module_name, _, class_name = spec.operator_class.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise missing_provider(task.compute_kind, task.target.name, task.step, exc, task.location) from None
    operator: BaseOperator = cls(task_id=COMPUTE_TASK_ID, **spec.kwargs, **options)
    return operator
