"""Data transfer steps in the pure model (Azure ML SDK v1's ``DataTransferStep``): building and rules.

YAML and the SDK build a transfer step here, so both produce the same :class:`StepSpec`. The step keeps
the pipeline's general shape: a file source is the step's one ordinary input (a dataset, or another
step's output), the file destination its one ordinary output, so ordering, reuse and publication treat
it like any step. A fixed destination (``DataReference``) is an output with a ``path``: exactly that
path on its datastore. A SQL destination is no output at all: a table is not a folder consumers read.

Checks here need no I/O: endpoints on datastores of the right kind, one of table/query/procedure, a
destination that stays inside its datastore. Tables that do not exist and queries that fail are only
known at run time, and are reported then, naming the step and field.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Final

from airflow_mlpipelines.exceptions import DefinitionError, Problems, SourceLocation, did_you_mean
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    DatasetSpec,
    DataTransferSpec,
    OutputSpec,
    StepSpec,
    TransferEndpoint,
    TransferFormat,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.model import DatastoreSpec

KIND: Final = "data_transfer"
FORMATS: Final = ("parquet", "csv")
_IDENTIFIER = re.compile(r'^(?:[A-Za-z_][\w$]*|"[^"]+")(?:\.(?:[A-Za-z_][\w$]*|"[^"]+"))*$')
"""A (schema-qualified) table name: it is written into statements, so it must not carry SQL."""


def default_output_name(step: str) -> str:
    """The destination's output name when the definition gives none: ``<step>_output``."""
    return f"{step}_output"


def source_dataset_name(step: str) -> str:
    """The name of the dataset a ``datastore`` + ``path`` source becomes (the step's input)."""
    return f"{step}_source"


def contained(path: str) -> str | None:
    """``path`` normalised inside its datastore (``a/./b`` → ``a/b``), or None when it leaves it
    (absolute, ``..`` above the root, a URL)."""
    if not path or path.startswith(("/", "\\")) or "://" in path or (len(path) > 1 and path[1] == ":"):
        return None
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        return None
    return "" if norm == "." else norm


def build_step(
    *,
    name: str,
    base_dir: str,
    source: TransferEndpoint | None,
    source_input: str | None,
    destination: TransferEndpoint,
    destination_output: str | None,
    destination_fixed: bool,
    format: TransferFormat | None = None,
    reuse_query: str | None = None,
    allow_reuse: bool = True,
    run_after: Sequence[str] = (),
    queue: str | None = None,
    retries: int | None = None,
    retry_delay_seconds: float | None = None,
    location: SourceLocation | None = None,
) -> tuple[StepSpec, list[DatasetSpec]]:
    """A data transfer step, and the dataset its ``datastore`` + ``path`` source becomes (if any).

    ``source_input`` names a dataset or another step's output (``source`` is then the endpoint of
    that input, known once the pipeline is assembled: ``None`` here); ``destination_fixed`` says the
    destination is the exact path named (a ``DataReference``) rather than a fresh ``PipelineData``
    folder per run.
    """
    datasets: list[DatasetSpec] = []
    inputs: tuple[str, ...] = ()
    if source_input is not None:
        inputs = (source_input,)
        endpoint = source or TransferEndpoint(datastore=DEFAULT_DATASTORE)
    else:
        if source is None:
            raise DefinitionError(
                "a data transfer needs a source", location=location, step=name, field="source"
            )
        endpoint = source
        if not source.is_sql:
            source_input = source_dataset_name(name)
            inputs = (source_input,)
            datasets.append(
                DatasetSpec(
                    source_input,
                    source.datastore,
                    (source.path or "",),
                    kind="file",
                    location=location,
                )
            )
    outputs: tuple[OutputSpec, ...] = ()
    if not destination.is_sql:
        destination_output = destination_output or default_output_name(name)
        path = destination.path if destination_fixed else None
        outputs = (OutputSpec(destination_output, destination.datastore, path=path),)
    else:
        destination_output = None
    spec = DataTransferSpec(
        source=endpoint,
        destination=destination,
        source_input=source_input,
        destination_output=destination_output,
        format=format or _format_of(destination),
        reuse_query=reuse_query,
    )
    step = StepSpec(
        name=name,
        script_name="",
        source_directory=base_dir,
        inputs=inputs,
        outputs=outputs,
        kind=KIND,
        allow_reuse=allow_reuse,
        run_after=tuple(run_after),
        transfer=spec,
        queue=queue,
        retries=retries,
        retry_delay_seconds=retry_delay_seconds,
        location=location,
    )
    return step, datasets


def _format_of(destination: TransferEndpoint) -> TransferFormat:
    """CSV when the destination file is named ``*.csv``, else Parquet (what a SQL source is written as)."""
    return "csv" if (destination.path or "").lower().endswith(".csv") else "parquet"


def check_transfers(
    steps: Sequence[StepSpec],
    datastores: Sequence[DatastoreSpec],
    datasets: Sequence[DatasetSpec],
    problems: Problems,
) -> None:
    """Every data transfer's endpoints: known datastores of the right kind, one SQL source form, a
    destination inside its datastore. Each problem names the step and the field."""
    stores = {d.name: d for d in datastores}
    known = [DEFAULT_DATASTORE, *stores]
    by_name = {d.name: d for d in datasets}
    for step in steps:
        transfer = step.transfer
        if transfer is None:
            continue
        source = transfer.source
        if transfer.source_input is not None and transfer.source_input in by_name:
            ds = by_name[transfer.source_input]
            source = TransferEndpoint(ds.datastore, path=ds.paths[0] if ds.paths else "")
        fresh = any(o.name == transfer.destination_output and o.path is None for o in step.outputs)
        for side, end in (("source", source), ("destination", transfer.destination)):
            if transfer.source_input is not None and side == "source" and source is transfer.source:
                continue  # another step's output: a folder on a file datastore by construction
            with problems.each():
                _check_endpoint(step, side, end, stores, known, fresh=fresh and side == "destination")
        with problems.each():
            _check_options(step, transfer)


def _error(step: StepSpec, field: str, message: str, hint: str | None = None) -> DefinitionError:
    return DefinitionError(message, location=step.location, step=step.name, field=field, hint=hint)


def _check_endpoint(
    step: StepSpec,
    side: str,
    end: TransferEndpoint,
    stores: dict[str, DatastoreSpec],
    known: list[str],
    *,
    fresh: bool = False,
) -> None:
    """One end; ``fresh``: a destination that is a new folder per run (``PipelineData``), so no path."""
    if end.datastore not in known:
        raise _error(
            step,
            f"{side}.datastore",
            f"the {side} uses unknown datastore '{end.datastore}'",
            did_you_mean(end.datastore, known) or f"declared datastores: {', '.join(known)}",
        )
    store = stores.get(end.datastore)
    forms = [f for f in ("sql_table", "sql_query", "sql_stored_procedure") if getattr(end, f) is not None]
    if store is not None and store.is_sql:
        _check_sql_endpoint(step, side, end, forms)
        return
    if forms:
        raise _error(
            step,
            f"{side}.{forms[0]}",
            f"the {side} names {forms[0]} but datastore '{end.datastore}' is not a SQL datastore",
            "declare the datastore with connection: <Airflow connection id> (a database)",
        )
    if fresh:
        return
    if end.path is None:
        raise _error(step, f"{side}.path", f"the {side} needs a path on datastore '{end.datastore}'")
    if contained(end.path) is None:
        raise _error(
            step,
            f"{side}.path",
            f"the {side} path {end.path!r} is outside its datastore '{end.datastore}'",
            "give a path relative to the datastore's root, without '..'",
        )


def _check_sql_endpoint(step: StepSpec, side: str, end: TransferEndpoint, forms: list[str]) -> None:
    """An end on a SQL datastore: one table (a destination) or one table/query/procedure (a source)."""
    if end.path is not None or not forms:
        raise _error(
            step,
            f"{side}.path" if end.path is not None else side,
            f"the {side} is on SQL datastore '{end.datastore}', which has no files: name a "
            "sql_table" + (", sql_query or sql_stored_procedure" if side == "source" else ""),
        )
    if len(forms) > 1:
        raise _error(
            step,
            f"{side}.{forms[1]}",
            f"the {side} names both {forms[0]} and {forms[1]}; give one of them",
        )
    for name_field in ("sql_table", "sql_stored_procedure"):
        value = getattr(end, name_field)
        if value is not None and not _IDENTIFIER.match(value.removesuffix("()")):
            raise _error(
                step,
                f"{side}.{name_field}",
                f"{value!r} is not a table or procedure name",
                "a name such as sales or analytics.sales (letters, digits, '_'; or \"Quoted Name\")",
            )
    if side == "destination" and forms[0] != "sql_table":
        raise _error(
            step,
            f"destination.{forms[0]}",
            f"a SQL destination is a table; {forms[0]} can only be a source",
            "name the table to append to with sql_table",
        )


def _check_options(step: StepSpec, transfer: DataTransferSpec) -> None:
    if transfer.reuse_query is not None and not transfer.source.is_sql:
        raise _error(
            step,
            "reuse_query",
            "reuse_query is for SQL sources; a file source is fingerprinted by its content",
        )
    if transfer.format not in FORMATS:
        raise _error(step, "format", f"unknown format {transfer.format!r}", f"one of: {', '.join(FORMATS)}")


def transfer_sources(steps: Sequence[StepSpec]) -> set[str]:
    """Names of the datasets that data transfers read (a SQL datastore is fine for no other dataset)."""
    return {s.transfer.source_input for s in steps if s.transfer and s.transfer.source_input}
