"""Step kind ``parallel_run`` (Azure ML SDK v1's ParallelRunStep): an entry script over mini-batches.

The step's fingerprint has every step's components (the entry script's source tree, arguments, inputs,
environment...) plus ``parallel`` (the settings a mini-batch's result depends on) and ``parallel_rules``
(error limits and the rows file's name: they change what is gathered, never what a mini-batch
computes). The work itself is not one ``execute``: the DAG factory renders a partition task, one mapped
task per mini-batch and a gather task (``runtime/parallel.py``); ``execute`` runs the same three
phases in one process, for a plan handed to ``step_main`` without mapping.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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
    stages_data = True

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
        """All mini-batches in this process, one after the other (no mapped tasks), then the gather's
        rows: what a container runs when it is handed the whole plan."""
        plan = job.plan
        storage = job.storage
        if storage is None:
            return
        spec = parallel.spec_of(plan)
        root = job.plan.manifest.rsplit("/_manifests/", 1)[0]
        batches = parallel.partition(
            plan,
            storage,
            parallel.batches_root(root, plan.task.pipeline, plan.step),
            parallel.fsspec_digest,
        )
        results = [parallel.compute_batch(plan, b, storage, job.io) for b in batches]
        why = parallel.over_threshold(spec, results)
        if why is not None:
            from airflow_mlpipelines.exceptions import StepExecutionError

            raise StepExecutionError(f"step '{plan.step}': {why}")
        out = job.outputs[spec.output]
        parallel.write_output(spec, results, storage, out)
        job.result = {"mini_batches": len(results), "failed_items": sum(r.failed for r in results)}
        os.makedirs(out, exist_ok=True)


KIND = ParallelRunKind()
