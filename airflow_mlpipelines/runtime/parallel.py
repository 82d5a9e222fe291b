"""A parallel run step at run time: cut the input into mini-batches, run one, gather them all.

Azure ML SDK v1's ``ParallelRunStep`` becomes three kinds of task (``dag_factory/parallel.py``): a
*partition* task lists the input through the storage layer and describes each mini-batch
(:func:`partition`), one *mapped* task per mini-batch runs the entry script on it or reuses its stored
result (:func:`run_batch`), and the step's compute task gathers the results in partition order into
the step's one output and commits the step's manifest (:func:`gather`). Each mini-batch has its own
fingerprint (the step's, without the cut input, plus its own items' digests) and its own manifest,
written last: an unchanged mini-batch is not recomputed even when other files changed. Pure (no
Airflow): a container runs :func:`run_batch` through ``runtime.parallel_main``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.paths import join, safe_segment
from airflow_mlpipelines.pipeline.parallel import format_keys, format_pattern, mini_batch_limit
from airflow_mlpipelines.reuse import lease
from airflow_mlpipelines.reuse.fingerprint import digest_of
from airflow_mlpipelines.runtime.runner import RunResult, claimed, commit_outputs, make_outputs, stage_inputs
from airflow_mlpipelines.runtime.script_step import ChildProcess, resolve_arguments

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_mlpipelines.pipeline.model import ParallelRunSpec
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.runner import RunnerIO
    from airflow_mlpipelines.storage import Location, Storage

CHILD_MODULE = "airflow_mlpipelines.runtime.parallel_main"
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


# -- partition --------------------------------------------------------------------------------------
def base_digest(plan: StepPlan) -> str:
    """The step's fingerprint without the cut input and without the result rules."""
    spec = spec_of(plan)
    skip = {f"input:{spec.input}", "parallel_rules"}
    return digest_of({k: v for k, v in plan.fingerprint.components.items() if k not in skip})


def _csv_ranges(data: bytes, limit: int) -> tuple[int, list[tuple[int, int, int]]]:
    """(end of the header line, [(start, end, rows)]): a CSV's data lines cut into ranges of about
    ``limit`` bytes, always at a line end (SDK v1 cuts a tabular dataset by size too)."""
    header_end = data.find(b"\n") + 1 if b"\n" in data else len(data)
    ranges: list[tuple[int, int, int]] = []
    start = header_end
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            newline = data.find(b"\n", end - 1)
            end = len(data) if newline < 0 else newline + 1
        chunk = data[start:end]
        rows = sum(1 for line in chunk.splitlines() if line.strip())
        if rows:
            ranges.append((start, end, rows))
        start = end
    return header_end, ranges


def partition(
    plan: StepPlan,
    storage: Storage,
    batches_root: str,
    file_digest: Callable[[Location], str],
    key_groups: Callable[[str, Sequence[str]], list[tuple[dict[str, Any], int]]] | None = None,
    *,
    reuse: bool = True,
) -> list[MiniBatch]:
    """The mini-batches of the plan's input, in partition order (files sorted by path).

    File input: ``mini_batch_size`` files each. Tabular input: CSV data lines cut into ranges of about
    ``mini_batch_size`` bytes; with ``partition_keys``, one mini-batch per distinct key (``key_groups``
    reads the table: the worker's pandas, through ``frames``); a Parquet file is one mini-batch.
    ``batches_root`` is where mini-batch folders live (``<datastore_root>/_parallel/<pipeline>/<step>``).
    """
    spec = spec_of(plan)
    url = plan.inputs[spec.input]
    tabular = plan.task.input(spec.input).kind == "tabular"
    limit = mini_batch_limit(spec, tabular)
    base = base_digest(plan)
    files = [(rel, loc) for rel, loc in st.files_below(storage.resolve(url)) if not _hidden(rel)]
    if not files:
        raise StepExecutionError(f"step '{plan.step}': input '{spec.input}' at {url} holds no files")
    batches: list[MiniBatch] = []

    def add(items: tuple[str, ...], identity: Any, **extra: Any) -> None:
        digest = digest_of({"step": base, "batch": identity})
        url = join(batches_root, digest[:16])
        batches.append(MiniBatch(len(batches), items, digest, url, reuse=reuse, **extra))

    fmt = plan.task.input(spec.input).partition_format
    if spec.partition_keys and fmt and set(spec.partition_keys) <= set(format_keys(fmt)):
        for keys, group in _path_groups(plan, spec, fmt, files):
            identity = [keys, [[rel, file_digest(loc)] for rel, loc in group]]
            add(tuple(rel for rel, _ in group), identity, keys=keys, path_keys=True)
        return batches
    if not tabular:
        for first in range(0, len(files), limit):
            chunk = files[first : first + limit]
            add(tuple(rel for rel, _ in chunk), [[rel, file_digest(loc)] for rel, loc in chunk])
        return batches
    for rel, loc in files:
        for identity, extra in _table_parts(plan, spec, rel, loc, file_digest(loc), limit, key_groups):
            add((rel,), identity, **extra)
    if not batches:  # zero mapped instances would skip the gather: the step would never publish
        raise StepExecutionError(f"step '{plan.step}': input '{spec.input}' at {url} holds no rows")
    return batches


def _path_groups(
    plan: StepPlan, spec: ParallelRunSpec, fmt: str, files: list[tuple[str, Location]]
) -> list[tuple[dict[str, Any], list[tuple[str, Location]]]]:
    """Files grouped by the ``partition_keys`` values their paths hold (SDK v1's ``partition_format``), in
    order of first appearance; a file whose path does not match the format is a clear error."""
    pattern = format_pattern(fmt)
    groups: dict[tuple[str, ...], list[tuple[str, Location]]] = {}
    for rel, loc in files:
        match = pattern.match(rel)
        if match is None:
            raise StepExecutionError(
                f"step '{plan.step}': {rel} in input '{spec.input}' does not match its "
                f"partition_format {fmt!r}"
            )
        groups.setdefault(tuple(match.group(k) for k in spec.partition_keys), []).append((rel, loc))
    return [(dict(zip(spec.partition_keys, key, strict=True)), group) for key, group in groups.items()]


def _table_parts(
    plan: StepPlan,
    spec: ParallelRunSpec,
    rel: str,
    loc: Location,
    digest: str,
    limit: int,
    key_groups: Callable[[str, Sequence[str]], list[tuple[dict[str, Any], int]]] | None,
) -> list[tuple[Any, dict[str, Any]]]:
    """(identity, fields) of each mini-batch of one table file: key groups, CSV byte ranges, or the
    whole (Parquet) file."""
    if spec.partition_keys:
        if key_groups is None:
            raise StepExecutionError(f"step '{plan.step}': partition_keys need the table reader")
        return [
            ([rel, digest, keys], {"keys": keys, "rows": rows})
            for keys, rows in key_groups(loc.url, spec.partition_keys)
        ]
    if loc.path.lower().endswith((".parquet", ".pq")):
        return [([rel, digest], {})]
    _, ranges = _csv_ranges(st.read_bytes(loc) or b"", limit)
    return [
        ([rel, digest, start, end], {"start": start, "end": end, "rows": rows}) for start, end, rows in ranges
    ]


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of a mini-batch's rows (its manifest verifies them before they are reused)."""
    return hashlib.sha256(data).hexdigest()


def _copy_folder(src: str, loc: Location, say: Callable[[str], None]) -> None:
    if loc.local:
        st.remove(loc)
        shutil.copytree(src, loc.path)
    else:
        st.upload(src, loc, say)


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


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
