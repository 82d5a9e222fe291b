"""A parallel run step's tasks: partition, the mapped mini-batch task, and the gather (``<step>.run``).

``<step>.reuse`` decides for the whole step as for any step (an unchanged step is reused whole and
everything below is skipped). Then ``<step>.partition`` lists the input, ``<step>.batch`` is mapped over
its return value with ``.partial().expand()`` (one task instance per mini-batch, on the step's compute
kind: our operator on a worker, the official Docker/Kubernetes operator in a container), and
``<step>.run`` gathers and commits. ``node_count × process_count_per_node`` caps how many mini-batches
run at once (``max_active_tis_per_dagrun`` of the mapped task).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import missing_provider
from airflow_mlpipelines.compute.registry import compute_kind
from airflow_mlpipelines.operators.parallel_run import (
    BATCH_TASK_ID,
    PARTITION_TASK_ID,
    ParallelRunOperator,
    PartitionOperator,
)
from airflow_mlpipelines.runtime.plan import COMPUTE_TASK_ID

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from airflow_mlpipelines.pipeline.step_task import StepTask


def parallel_tasks(
    task: StepTask,
    reuse: BaseOperator,
    reuse_args: dict[str, Any],
    compute_args: dict[str, Any],
    compute_assets: dict[str, Any],
) -> None:
    """Build the step's tasks after ``reuse`` inside the step's task group."""
    spec = task.parallel
    assert spec is not None  # noqa: S101 - only called for parallel run steps
    part = PartitionOperator(task_id=PARTITION_TASK_ID, task=task, **reuse_args)
    try:
        mapped = compute_kind(task.compute_kind).mapped_spec(task)
        module, _, name = mapped.operator_class.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise missing_provider(task.compute_kind, task.target.name, task.step, exc, task.location) from None
    concurrency = spec.node_count * spec.process_count_per_node
    batches = cls.partial(
        task_id=BATCH_TASK_ID,
        max_active_tis_per_dagrun=concurrency,
        **mapped.kwargs,
        **compute_args,
    ).expand(**{mapped.expand: part.output})
    gather = ParallelRunOperator(task_id=COMPUTE_TASK_ID, task=task, **reuse_args, **compute_assets)
    reuse >> part >> batches >> gather
