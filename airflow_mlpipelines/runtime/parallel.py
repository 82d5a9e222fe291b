"""A parallel run step at run time: cut the input into mini-batches, run one, gather them all.

Azure ML SDK v1's ``ParallelRunStep`` becomes three kinds of task (``dag_factory/parallel.py``): a
*partition* task lists the input through the storage layer and describes each mini-batch
(``parallel_partition.partition``), one *mapped* task per mini-batch runs the entry script on it or
reuses its stored result (``parallel_batch.run_batch``), and the step's compute task gathers the
results in partition order into the step's one output and commits the step's manifest
(:func:`gather`). Each mini-batch has its own fingerprint (the step's, without the cut input, plus its
own items' digests) and its own manifest, written last: an unchanged mini-batch is not recomputed even
when other files changed. Pure (no Airflow): a container runs a mini-batch through ``step_main
--mini-batch``. This module holds the descriptors, the results and the gather.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.paths import join, safe_segment
from airflow_mlpipelines.runtime.runner import RunResult, claimed, commit_outputs, make_outputs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.model import ParallelRunSpec
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.runner import RunnerIO
    from airflow_mlpipelines.storage import Storage

MANIFEST = "manifest.json"
ROWS = "rows.txt"
FILES = "files"
RESULT_RULES = ("error_threshold", "allowed_failed_count", "allowed_failed_percent", "append_row_file_name")
"""Settings that decide what the step does with mini-batch results, not what a mini-batch computes:
they are left out of the mini-batch fingerprint (changing them re-gathers, never recomputes)."""
SCHEDULING = ("process_count_per_node", "node_count", "run_max_try")
"""How mini-batches are scheduled: neither the step's nor a mini-batch's result depends on them."""


def spec_of(plan: StepPlan) -> ParallelRunSpec:
    """The plan's parallel run settings (a plan of another kind is a bug: a clear error)."""
    spec = plan.task.parallel
    if spec is None:
        raise StepExecutionError(f"step '{plan.step}' is not a parallel run step")
    return spec


def batch_settings(spec: ParallelRunSpec) -> dict[str, Any]:
    """What a mini-batch's result depends on among the settings (its fingerprint component)."""
    values = {k: v for k, v in vars(spec).items() if k not in RESULT_RULES + SCHEDULING}
    return json.loads(json.dumps(values))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class MiniBatch:
    """One mini-batch: its place in the partition, what it holds, its fingerprint and stored result.

    ``items`` are paths relative to the input (files), or one table file's relative path; a tabular
    mini-batch also has ``start``/``end`` (byte range of a CSV's data lines) or ``keys`` (the
    ``partition_keys`` values of its rows). ``url`` is the mini-batch's folder (result + manifest).
    """

    index: int
    items: tuple[str, ...]
    digest: str
    url: str
    start: int | None = None
    end: int | None = None
    keys: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None
    """Data rows of a tabular mini-batch (what ``run`` should answer with), None for files."""
    path_keys: bool = False
    """``keys`` come from the items' paths (``partition_format``), not from a table's columns."""
    reuse: bool = True
    """False when the run must not reuse stored results (``allow_reuse: false``, ``regenerate_outputs``,
    ``force_rerun``): the mini-batch runs, and its new result replaces the stored one."""

    @property
    def size(self) -> int:
        """How many items a failure of the whole mini-batch counts: files, or rows."""
        return self.rows if self.rows is not None else len(self.items)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the mapped task's argument (small: paths and digests, no data)."""
        return {
            "index": self.index,
            "items": list(self.items),
            "digest": self.digest,
            "url": self.url,
            "start": self.start,
            "end": self.end,
            "keys": dict(self.keys),
            "rows": self.rows,
            "reuse": self.reuse,
            "path_keys": self.path_keys,
        }

    @classmethod
    def from_json(cls, data: Any) -> MiniBatch:
        """Read back :meth:`to_json` (also from a JSON string, as a container receives it)."""
        value = json.loads(data) if isinstance(data, str) else dict(data)
        return cls(
            index=int(value["index"]),
            items=tuple(str(i) for i in value["items"]),
            digest=str(value["digest"]),
            url=str(value["url"]),
            start=value.get("start"),
            end=value.get("end"),
            keys=dict(value.get("keys") or {}),
            rows=value.get("rows"),
            reuse=bool(value.get("reuse", True)),
            path_keys=bool(value.get("path_keys", False)),
        )


# -- one mini-batch ---------------------------------------------------------------------------------
@dataclass
class BatchResult:
    """How one mini-batch ended: what the gather task needs (the rows stay in storage)."""

    index: int
    items: int
    succeeded: int
    failed: int
    rows_url: str
    files_url: str
    reused: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the mapped task's return value)."""
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Any) -> BatchResult:
        """Read back :meth:`to_json`."""
        return cls(**dict(data))


def result_url(batch: MiniBatch, run_id: str) -> str:
    """Where this run records how the mini-batch ended (what the gather task reads, on any compute)."""
    return join(batch.url, "runs", safe_segment(run_id) + ".json")


def record_result(plan: StepPlan, batch: MiniBatch, result: BatchResult, storage: Storage) -> BatchResult:
    """Store this run's outcome of the mini-batch (a container pushes no XCom: storage is the hand-over)."""
    st.write_bytes(storage.resolve(result_url(batch, plan.run_id)), json.dumps(result.to_json()).encode())
    return result


def read_results(plan: StepPlan, batches: Sequence[MiniBatch], storage: Storage) -> list[BatchResult]:
    """This run's outcome of every mini-batch (a missing one is a clear error naming it)."""
    found = []
    for batch in batches:
        raw = st.read_bytes(storage.resolve(result_url(batch, plan.run_id)))
        if raw is None:
            raise StepExecutionError(
                f"step '{plan.step}': mini-batch {batch.index} recorded no result in this run"
            )
        found.append(BatchResult.from_json(json.loads(raw)))
    return found


# -- gather -----------------------------------------------------------------------------------------
def over_threshold(spec: ParallelRunSpec, results: Sequence[BatchResult]) -> str | None:
    """Why the step fails for its failures (None when they are within SDK v1's limits).

    ``error_threshold`` counts failed items (files, or rows) over the whole input, -1 ignores them;
    ``allowed_failed_count`` / ``allowed_failed_percent`` count failed mini-batches.
    """
    failed_items = sum(r.failed for r in results)
    failed_batches = sum(1 for r in results if r.failed)
    if spec.error_threshold >= 0 and failed_items > spec.error_threshold:
        return f"{failed_items} failed items exceed error_threshold {spec.error_threshold}"
    if spec.allowed_failed_count is not None and failed_batches > spec.allowed_failed_count:
        return f"{failed_batches} failed mini-batches exceed allowed_failed_count {spec.allowed_failed_count}"
    if spec.allowed_failed_percent is not None and results:
        percent = 100.0 * failed_batches / len(results)
        if percent > spec.allowed_failed_percent:
            limit = spec.allowed_failed_percent
            return f"{percent:.1f}% failed mini-batches exceed allowed_failed_percent {limit}"
    return None


def batches_root(datastore_root: str, pipeline: str, step: str) -> str:
    """Where a step's mini-batch folders live: ``<datastore_root>/_parallel/<pipeline>/<step>``."""
    return join(datastore_root, "_parallel", pipeline, step)


def write_output(spec: ParallelRunSpec, ordered: Sequence[BatchResult], storage: Storage, out: str) -> None:
    """The step's output folder: the rows file (``append_row``) in partition order, and every file the
    mini-batches wrote to ``EntryScript().output_dir``."""
    ordered = sorted(ordered, key=lambda r: r.index)
    if spec.output_action == "append_row":
        with open(os.path.join(out, spec.append_row_file_name), "wb") as sink:
            for r in ordered:
                sink.write(st.read_bytes(storage.resolve(r.rows_url)) or b"")
    for r in ordered:
        files = storage.resolve(r.files_url)
        if st.exists(files):
            st.download(files, out)


def gather(plan: StepPlan, results: Sequence[BatchResult], storage: Storage, io: RunnerIO) -> RunResult:
    """Append the mini-batches' rows in partition order into the output (``append_row``), copy what they
    wrote to ``EntryScript().output_dir``, check the failures against the limits, commit the manifest."""
    spec = spec_of(plan)
    ordered = sorted(results, key=lambda r: r.index)
    summary = {
        "mini_batches": len(ordered),
        "items": sum(r.items for r in ordered),
        "failed_items": sum(r.failed for r in ordered),
        "failed_mini_batches": sum(1 for r in ordered if r.failed),
        "reused_mini_batches": sum(1 for r in ordered if r.reused),
    }
    io.say(
        f"step {plan.step}: {summary['mini_batches']} mini-batches "
        f"({summary['reused_mini_batches']} reused), "
        f"{summary['items']} items, {summary['failed_items']} failed"
    )
    for r in ordered:
        if r.error:
            io.say(f"mini-batch {r.index} failed: {r.error}")
    with claimed(plan, storage, io) as adopted:  # released on the way out, a failure included
        if adopted is not None:
            return RunResult(adopted, adopted=True)
        why = over_threshold(spec, ordered)
        if why is not None:
            raise StepExecutionError(f"step '{plan.step}': {why}; see the mini-batch tasks' logs")
        with tempfile.TemporaryDirectory(prefix=f"mlp-{safe_segment(plan.step)}-gather-") as work:
            outputs = make_outputs(plan, storage, work)
            write_output(spec, ordered, storage, outputs[spec.output])
            manifest = commit_outputs(plan, storage, outputs, io.say)
    io.say(f"committed outputs of {plan.step} (fingerprint {plan.fingerprint.short})")
    return RunResult(manifest, details=summary)
