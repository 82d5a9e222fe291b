"""Local target: the step runs as a child process on the Airflow worker, through our own operator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import MappedSpec, TaskSpec
from airflow_mlpipelines.runtime.kinds import local_operator

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.plan import StepPlan


MINI_BATCH_OPERATOR = "airflow_mlpipelines.operators.parallel_run.MiniBatchOperator"


class LocalCompute:
    """The step kind's local operator (named by import path, so ``compute`` never imports operators)."""

    name = "local"
    builds_image = False

    def task_spec(self, task: StepTask) -> TaskSpec:
        """``PythonScriptStepOperator`` / ``ExecutePythonScriptOperator`` with the step's description."""
        return TaskSpec(local_operator(task.kind), {"task": task, "arguments": task.argument_tokens()})

    def mapped_spec(self, task: StepTask) -> MappedSpec:
        """``MiniBatchOperator`` on the worker, expanded over the mini-batch descriptors."""
        return MappedSpec(MINI_BATCH_OPERATOR, {"task": task.to_json()}, "batch")

    def mapped_value(self, descriptor: dict[str, Any]) -> Any:
        """The descriptor itself."""
        return descriptor

    def prepare(self, plan: StepPlan, warn: Callable[[str], None]) -> StepPlan:
        """Nothing to check: the worker runs the step itself."""
        return plan


KIND = LocalCompute()
