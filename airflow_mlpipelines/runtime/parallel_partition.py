"""A parallel run's partition: its input listed through the storage layer and cut into mini-batches.

Files sorted by path in groups of ``mini_batch_size``; a tabular input's CSV data lines in byte ranges of
about ``mini_batch_size`` (always at a line end), a Parquet file whole, or groups by ``partition_keys``
(a table's columns, or the keys of the dataset's ``partition_format`` in its files' paths). Each
mini-batch's digest is the step's fingerprint without the cut input and without the result rules, plus
its own items' content digests. Pure (no Airflow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.paths import join
from airflow_mlpipelines.pipeline.parallel import format_keys, mini_batch_limit, path_keys
from airflow_mlpipelines.reuse.fingerprint import digest_of
from airflow_mlpipelines.runtime.parallel import MiniBatch, spec_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_mlpipelines.pipeline.model import ParallelRunSpec
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.storage import Location, Storage


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
    groups: dict[tuple[str, ...], list[tuple[str, Location]]] = {}
    for rel, loc in files:
        keys = path_keys(fmt, rel)
        if keys is None:
            raise StepExecutionError(
                f"step '{plan.step}': {rel} in input '{spec.input}' does not match its "
                f"partition_format {fmt!r}"
            )
        groups.setdefault(tuple(keys[k] for k in spec.partition_keys), []).append((rel, loc))
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


def _hidden(rel: str) -> bool:
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)
