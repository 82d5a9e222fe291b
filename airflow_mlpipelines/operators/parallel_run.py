"""The tasks of a parallel run step (SDK v1's ParallelRunStep) besides its reuse task.

``<step>.partition`` (:class:`PartitionOperator`) lists the input and hands over one small descriptor
per mini-batch; ``<step>.batch`` is mapped over them (dynamic task mapping): on local compute
:class:`MiniBatchOperator`, on Docker/Kubernetes the official operator running ``step_main
--mini-batch``; ``<step>.run`` (:class:`ParallelRunOperator`) gathers the results into the step's output
and commits its manifest, so the step is published like any other. The work is the runtime's
(``parallel_partition.py``, ``parallel_batch.py``, ``parallel.py``).
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowSkipException

from airflow_mlpipelines import settings
from airflow_mlpipelines.compute.registry import compute_kind
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.operators.links import StepOutputsLink
from airflow_mlpipelines.operators.planner import upstream_plan
from airflow_mlpipelines.operators.reuse_sensor import forced_reason
from airflow_mlpipelines.operators.step_operator import registry_env
from airflow_mlpipelines.pipeline.step_task import StepTask
from airflow_mlpipelines.reuse import lease
from airflow_mlpipelines.reuse.remote_digest import remote_digest
from airflow_mlpipelines.reuse.source_tree import DigestCache
from airflow_mlpipelines.runtime import parallel, parallel_batch, parallel_partition
from airflow_mlpipelines.runtime.plan import BATCH_TASK_ID, PARTITION_TASK_ID, step_of, task_id
from airflow_mlpipelines.runtime.runner import RunnerIO, Stoppable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.storage import Location

__all__ = [
    "BATCH_TASK_ID",
    "PARTITION_TASK_ID",
    "MiniBatchOperator",
    "ParallelRunOperator",
    "PartitionOperator",
]

BATCHES_KEY = "mlp_batches"
"""XCom key of the partition task's mini-batch descriptors (its return value is what the mapped task
expands over, which for container compute is the container's command or arguments)."""


def _run_plan(context: Context, step: str) -> StepPlan:
    plan = upstream_plan(context, step)
    if plan is None or plan.decision != "run":
        raise AirflowSkipException(f"step {step} was reused: no mini-batch runs")
    return plan


class _Step(BaseOperator):
    operator_extra_links = (StepOutputsLink(),)

    def __init__(self, *, task: StepTask | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A mapped task's partial arguments are serialized with the DAG: it is given the JSON form.
        self.task = task if not isinstance(task, dict) else StepTask.from_json(task)

    @property
    def step(self) -> str:
        """The step's name (the UI link reads it)."""
        return self.task.step if self.task is not None else step_of(self.task_id)


class PartitionOperator(_Step):
    """List the step's input through the storage layer and describe its mini-batches, in order."""

    ui_color = "#f3e6d0"

    def execute(self, context: Context) -> list[Any]:
        """Push the descriptors (``mlp_batches``); return what the mapped task expands over."""
        plan = _run_plan(context, self.task.step)
        storage = AirflowStorage()
        if plan.lease is not None:
            lease.renew(storage.resolve(plan.lease.url), plan.lease.holder, plan.lease.seconds)
        cache = DigestCache.load(settings.digest_cache_path())

        def digest(loc: Location) -> str:
            if loc.local:
                return cache.digest(loc.path, os.stat(loc.path))
            return remote_digest(loc, self.log.info)

        root = parallel.batches_root(settings.datastore_root(), self.task.pipeline, self.task.step)
        with tempfile.TemporaryDirectory(prefix="mlp-partition-") as work:
            run_conf = getattr(context.get("dag_run"), "conf", None) or {}
            forced = forced_reason(self.task, run_conf)
            if forced is not None:
                self.log.info("no mini-batch is reused: %s", forced)
            batches = parallel_partition.partition(
                plan, storage, root, digest, key_groups=_key_groups(storage, work), reuse=forced is None
            )
        cache.save()
        spec = parallel.spec_of(plan)
        limit = conf.getint("core", "max_map_length", fallback=1024)
        if len(batches) > limit:
            raise StepExecutionError(
                f"step '{self.task.step}': {len(batches)} mini-batches are more than Airflow maps one task "
                f"to ([core] max_map_length = {limit}); raise mini_batch_size or [core] max_map_length"
            )
        self.log.info(
            "step %s: %d mini-batches of input %s (mini_batch_size %s)",
            self.task.step,
            len(batches),
            spec.input,
            spec.mini_batch_size or "default",
        )
        descriptors = [b.to_json() for b in batches]
        context["ti"].xcom_push(key=BATCHES_KEY, value=descriptors)
        kind = compute_kind(self.task.compute_kind)
        return [kind.mapped_value(d) for d in descriptors]


def _key_groups(
    storage: AirflowStorage, work: str
) -> Callable[[str, Sequence[str]], list[tuple[dict[str, Any], int]]]:
    """``partition_keys`` over a table's columns: read on this worker through ``frames`` (a remote file
    is downloaded into ``work`` first)."""

    def groups(url: str, columns: Sequence[str]) -> list[tuple[dict[str, Any], int]]:
        from airflow_mlpipelines import storage as st
        from airflow_mlpipelines.frames.tables import key_groups

        loc = storage.resolve(url)
        path = loc.path if loc.local else st.download(loc, os.path.join(work, os.path.basename(loc.path)))
        return key_groups(path, list(columns))

    return groups


class MiniBatchOperator(_Step):
    """One mini-batch on the worker: its stored result when it is committed, else the entry script's
    ``init()`` + ``run(mini_batch)`` in a child process of its own.

    :param batch: The mini-batch's descriptor (what ``<step>.partition`` returned; mapped).
    """

    ui_color = "#f6ecd9"

    def __init__(
        self, *, task: StepTask | dict[str, Any], batch: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(task=task, **kwargs)
        self.batch = batch
        self._child: Stoppable | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        """Run or reuse the mini-batch; return how it ended (also recorded in storage)."""
        plan = _run_plan(context, self.task.step)
        batch = parallel.MiniBatch.from_json(self.batch)
        io = RunnerIO(
            say=self.log.info,
            on_stdout=lambda line: self.log.info("%s", line),
            on_stderr=lambda line: self.log.info("[stderr] %s", line),
            attach=self._attach,
            env=registry_env(plan),
        )
        return parallel_batch.run_batch(plan, batch, AirflowStorage(), io).to_json()

    def _attach(self, child: Stoppable | None) -> None:
        self._child = child

    def on_kill(self) -> None:
        """Stop the entry script's process group when Airflow stops the task."""
        if self._child is not None:
            self._child.terminate(settings.kill_grace_seconds())


class ParallelRunOperator(_Step):
    """Gather the mini-batches' results in partition order into the step's output (``append_row``: the
    rows file), fail when the failures exceed the step's limits, and commit the step's manifest."""

    ui_color = "#eedcb3"

    def execute(self, context: Context) -> dict[str, str]:
        """Gather and commit; return the output folder URLs."""
        plan = _run_plan(context, self.task.step)
        storage = AirflowStorage()
        descriptors = context["ti"].xcom_pull(
            task_ids=task_id(self.task.step, PARTITION_TASK_ID), key=BATCHES_KEY
        )
        batches = [parallel.MiniBatch.from_json(d) for d in descriptors or []]
        results = parallel.read_results(plan, batches, storage)
        io = RunnerIO(say=self.log.info, on_stdout=self.log.info, on_stderr=self.log.info)
        result = parallel.gather(plan, results, storage, io)
        context["ti"].xcom_push(key="mlp_parallel_summary", value=result.details)
        return {name: str(out["url"]) for name, out in result.manifest.get("outputs", {}).items()}
