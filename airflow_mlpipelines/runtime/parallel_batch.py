"""One mini-batch of a parallel run, on a worker or in a container: its stored result, or the entry
script's ``init()`` + ``run(mini_batch)`` in a child process (``parallel_main.py``), then its rows (and
what it wrote to ``EntryScript().output_dir``) stored with a manifest written last. Pure (no Airflow).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.paths import safe_segment
from airflow_mlpipelines.reuse import lease
from airflow_mlpipelines.runtime.parallel import (
    FILES,
    MANIFEST,
    ROWS,
    BatchResult,
    MiniBatch,
    record_result,
    spec_of,
)
from airflow_mlpipelines.runtime.runner import stage_inputs
from airflow_mlpipelines.runtime.script_step import ChildProcess, resolve_arguments

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_mlpipelines.pipeline.model import ParallelRunSpec
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.runner import RunnerIO
    from airflow_mlpipelines.storage import Location, Storage

CHILD_MODULE = "airflow_mlpipelines.runtime.parallel_main"


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of a mini-batch's rows (its manifest verifies them before they are reused)."""
    return hashlib.sha256(data).hexdigest()


def _copy_folder(src: str, loc: Location, say: Callable[[str], None]) -> None:
    if loc.local:
        st.remove(loc)
        shutil.copytree(src, loc.path)
    else:
        st.upload(src, loc, say)


def committed_batch(batch: MiniBatch, storage: Storage) -> dict[str, Any] | None:
    """The mini-batch's manifest when it is committed for this digest and its rows file verifies."""
    folder = storage.resolve(batch.url)
    raw = st.read_bytes(folder.child(MANIFEST))
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or manifest.get("digest") != batch.digest:
        return None
    rows = st.read_bytes(folder.child(ROWS))
    if rows is None or sha256_bytes(rows) != manifest.get("rows_sha256"):
        return None
    if manifest.get("files", {}) != st.sizes_below(folder.child(FILES)):
        return None  # what the entry script wrote to output_dir is missing or changed
    return manifest


def run_batch(plan: StepPlan, batch: MiniBatch, storage: Storage, io: RunnerIO) -> BatchResult:
    """Run one mini-batch (:func:`compute_batch`) and record how it ended for the gather task."""
    if plan.lease is not None:  # keep the step's in-flight lease while its mini-batches run
        lease.renew(storage.resolve(plan.lease.url), plan.lease.holder, plan.lease.seconds)
    return record_result(plan, batch, compute_batch(plan, batch, storage, io), storage)


def compute_batch(plan: StepPlan, batch: MiniBatch, storage: Storage, io: RunnerIO) -> BatchResult:
    """Reuse the mini-batch's committed result, or run ``init()`` + ``run(mini_batch)`` in a child
    process (retried up to ``run_max_try`` times) and store its rows; the manifest is written last and
    only for a mini-batch without failures, so a failed one is computed again by the next run."""
    spec = spec_of(plan)
    folder = storage.resolve(batch.url)
    found = committed_batch(batch, storage) if batch.reuse else None
    if found is not None:
        io.say(
            f"mini-batch {batch.index} of step {plan.step} reused (digest {batch.digest[:16]}, "
            f"{found.get('succeeded')} items, from run {found.get('run_id')})"
        )
        return BatchResult(
            batch.index,
            int(found["items"]),
            int(found["succeeded"]),
            0,
            folder.child(ROWS).url,
            folder.child(FILES).url,
            reused=True,
        )
    with tempfile.TemporaryDirectory(prefix=f"mlp-{safe_segment(plan.step)}-{batch.index}-") as work:
        outcome = _compute(plan, spec, batch, storage, io, work)
        rows = "".join(line + "\n" for line in outcome["rows"]).encode()
        returned = int(outcome.get("returned", 0))
        # The child counts what it handed to run() (a partition_format group's rows are only known there).
        size = int(outcome.get("items", batch.size))
        failed = size if outcome.get("error") else max(0, size - returned)
        succeeded = size - failed
        target = folder if not failed else folder.child("attempts", safe_segment(plan.run_id))
        st.write_bytes(target.child(ROWS), rows)
        output_dir = os.path.join(work, "output")
        files = target.child(FILES)
        written: dict[str, int] = {}
        if os.path.isdir(output_dir) and os.listdir(output_dir):
            _copy_folder(output_dir, files, io.say)
            written = st.sizes_below(files)
        if not failed:
            manifest = {
                "digest": batch.digest,
                "index": batch.index,
                "items": size,
                "succeeded": succeeded,
                "rows_sha256": sha256_bytes(rows),
                "files": written,
                "run_id": plan.run_id,
                "dag_id": plan.dag_id,
            }
            st.write_bytes(folder.child(MANIFEST), json.dumps(manifest, sort_keys=True).encode())
        io.say(
            f"mini-batch {batch.index} of step {plan.step}: {succeeded} of {size} items succeeded"
            + (f"; {outcome['error']}" if outcome.get("error") else "")
        )
        return BatchResult(
            batch.index,
            size,
            succeeded,
            failed,
            target.child(ROWS).url,
            files.url,
            error=str(outcome.get("error") or ""),
        )


def _stage_batch(
    plan: StepPlan, spec: ParallelRunSpec, batch: MiniBatch, storage: Storage, work: str
) -> list[str]:
    """Local paths of the mini-batch's items (remote ones downloaded one by one: never the whole input)."""
    base = storage.resolve(plan.inputs[spec.input])
    paths = []
    for rel in batch.items:
        loc = base.child(rel) if rel else base
        if loc.local:
            paths.append(loc.path)
            continue
        # The item keeps its relative path (and so its name and suffix) below the mini-batch's folder.
        dest = os.path.join(work, "batch", *(rel or os.path.basename(loc.path)).split("/"))
        paths.append(st.download(loc, dest))
    return paths


def _compute(
    plan: StepPlan, spec: ParallelRunSpec, batch: MiniBatch, storage: Storage, io: RunnerIO, work: str
) -> dict[str, Any]:
    side = replace(plan, inputs={k: v for k, v in plan.inputs.items() if k != spec.input})
    inputs = stage_inputs(side, storage, work, io.say)
    items = _stage_batch(plan, spec, batch, storage, work)
    # In the arguments the cut input is the whole input's place, as SDK v1 passes the dataset's mount.
    whole = storage.resolve(plan.inputs[spec.input])
    inputs[spec.input] = whole.path if whole.local else whole.url
    output_dir = os.path.join(work, "output")
    working_dir = os.path.join(work, "work")
    result = os.path.join(work, "result.json")
    os.makedirs(output_dir, exist_ok=True)
    os.makedirs(working_dir, exist_ok=True)
    job: dict[str, Any] = {
        "step": plan.step,
        "entry_script": os.path.join(plan.source_directory, spec.entry_script),
        "source_directory": plan.source_directory,
        "arguments": resolve_arguments(
            plan.arguments, inputs=inputs, outputs={spec.output: output_dir}, parameters=plan.parameters
        ),
        "tabular": plan.task.input(spec.input).kind == "tabular",
        "items": items,
        "start": batch.start,
        "end": batch.end,
        "keys": batch.keys,
        "path_keys": batch.path_keys,
        "output_dir": output_dir,
        "working_dir": working_dir,
        "logging_level": spec.logging_level,
        "index": batch.index,
        "result": result,
    }
    path = os.path.join(work, "job.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(job, fh)
    outcome: dict[str, Any] = {"rows": [], "returned": 0, "error": "not run"}
    for attempt in range(1, spec.run_max_try + 1):
        outcome = _child(plan, spec, path, result, io)
        if not outcome.get("error"):
            break
        if attempt < spec.run_max_try:
            io.say(
                f"mini-batch {batch.index}: try {attempt} of {spec.run_max_try} failed: {outcome['error']}"
            )
    return outcome


def _child(plan: StepPlan, spec: ParallelRunSpec, job: str, result: str, io: RunnerIO) -> dict[str, Any]:
    if os.path.exists(result):
        os.remove(result)
    process = ChildProcess(
        command=[io.python, "-u", "-m", CHILD_MODULE, job],
        cwd=plan.source_directory,
        env={**os.environ, **io.env, **dict(spec.environment_variables)},
        on_stdout=io.on_stdout,
        on_stderr=io.on_stderr,
        grace_seconds=plan.limits.kill_grace_seconds,
    )
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        process.terminate()

    timer = threading.Timer(float(spec.run_invocation_timeout), stop)
    io.attach(process)
    timer.start()
    try:
        ended = process.run()
    except OSError as exc:
        raise StepExecutionError(
            f"step '{plan.step}': cannot start the entry script's process: {exc}"
        ) from None
    finally:
        timer.cancel()
        io.attach(None)
    if timed_out.is_set():
        return {
            "rows": [],
            "returned": 0,
            "error": f"run() exceeded run_invocation_timeout ({spec.run_invocation_timeout}s)",
        }
    try:
        with open(result, encoding="utf-8") as fh:
            outcome: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        tail = "\n".join(ended.stderr_tail[-5:])
        return {
            "rows": [],
            "returned": 0,
            "error": f"the entry script's process exited with code {ended.returncode}: {tail}",
        }
    if outcome.get("fatal"):
        raise StepExecutionError(f"step '{plan.step}': {outcome['fatal']}")
    return outcome
