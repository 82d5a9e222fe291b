"""Step kind ``parallel_run`` (Azure ML SDK v1's ParallelRunStep): an entry script over mini-batches.

The step's fingerprint has every step's components (the entry script's source tree, arguments, inputs,
environment...) plus ``parallel`` (the settings a mini-batch's result depends on) and ``parallel_rules``
(error limits and the rows file's name: they change what is gathered, never what a mini-batch
computes). The work itself is not one ``execute``: the DAG factory renders a partition task, one mapped
task per mini-batch and a gather task (``runtime/parallel_partition.py``, ``parallel_batch.py``,
``parallel.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.reuse.fingerprint import digest_of
from airflow_mlpipelines.runtime import parallel

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.kinds import PlanContext
    from airflow_mlpipelines.runtime.runner import Job


class ParallelRunKind:
    """Mini-batches of one input through ``init()``/``run(mini_batch)``; results gathered in order."""

    name = "parallel_run"
    hashes_source_tree = True
    stages_data = False
    """The runner never stages a parallel run's input whole: each mini-batch stages its own items."""

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """``parallel`` and ``parallel_rules``: the step's settings, split by what they affect."""
        spec = task.parallel
        if spec is None:
            return {}, {}
        rules = {k: getattr(spec, k) for k in parallel.RESULT_RULES}
        settings = parallel.batch_settings(spec)
        return (
            {"parallel": digest_of(settings), "parallel_rules": digest_of(rules)},
            {"parallel": settings, "parallel_rules": rules},
        )

    def execute(self, job: Job) -> None:
        """Not one process: a plan handed to ``step_main`` whole is refused (before anything is staged)."""
        raise StepExecutionError(
            f"step '{job.plan.step}' is a parallel run: its mini-batches run as mapped tasks "
            "(python -m airflow_mlpipelines.runtime.step_main --mini-batch <descriptor>), not as one step"
        )


KIND = ParallelRunKind()
