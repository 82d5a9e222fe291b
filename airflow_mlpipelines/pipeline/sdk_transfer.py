"""Azure ML SDK v1's ``DataTransferStep``, ``DataReference`` and ``SqlDataReference``.

``DataTransferStep(name, source_data_reference, destination_data_reference, compute_target=None,
source_reference_type=None, destination_reference_type=None, allow_reuse=True)`` keeps SDK v1's
signature. The ends are ``DataReference`` (a path on a file datastore: exactly that path),
``SqlDataReference`` (a table, query or stored procedure on a SQL datastore), a ``PipelineData`` (a
fresh folder per run; as a source, another step's output) or a dataset. ``get_output()`` returns the
destination as ``PipelineData`` that later steps consume, which orders them after the transfer.
``compute_target`` (Azure Data Factory in SDK v1) is accepted and ignored with a warning: the transfer
runs on the Airflow worker.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from typing import Any

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline import transfer
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, ReferenceType, StepSpec, TransferEndpoint
from airflow_mlpipelines.pipeline.sdk import (
    DatasetConsumptionConfig,
    Datastore,
    PipelineData,
    PipelineDataInput,
    _caller_location,
    _Dataset,
)
from airflow_mlpipelines.pipeline.sdk_steps import PythonScriptStep


def _datastore(value: Any, what: str) -> Datastore:
    if isinstance(value, Datastore):
        return value
    if value is None:
        return Datastore(None, DEFAULT_DATASTORE)
    if isinstance(value, str):
        return Datastore(None, value)
    raise DefinitionError(
        f"{what}: datastore must be a Datastore (or its name), got {value!r}", location=_caller_location()
    )


class DataReference:
    """A path on a datastore (``azureml.data.data_reference.DataReference``); as a transfer destination,
    exactly that path is written."""

    def __init__(
        self,
        datastore: Any,
        data_reference_name: str | None = None,
        path_on_datastore: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        self.datastore = _datastore(datastore, "DataReference")
        self.data_reference_name = data_reference_name
        self.path_on_datastore = path_on_datastore or ""
        self.location = _caller_location()

    def endpoint(self, reference_type: ReferenceType | None) -> TransferEndpoint:
        """The model of this end."""
        return TransferEndpoint(
            self.datastore.name, path=self.path_on_datastore, reference_type=reference_type
        )


class SqlDataReference:
    """A table, query or stored procedure of a SQL datastore (``azureml.data.sql_data_reference``)."""

    def __init__(
        self,
        datastore: Any,
        data_reference_name: str | None = None,
        sql_table: str | None = None,
        sql_query: str | None = None,
        sql_stored_procedure: str | None = None,
        sql_stored_procedure_params: Any = None,
    ) -> None:
        self.datastore = _datastore(datastore, "SqlDataReference")
        self.data_reference_name = data_reference_name
        self.sql_table = sql_table
        self.sql_query = sql_query
        self.sql_stored_procedure = sql_stored_procedure
        self.location = _caller_location()
        if sql_stored_procedure_params:
            warnings.warn(
                "SqlDataReference: sql_stored_procedure_params are not passed yet (call a procedure that "
                "takes none, or use sql_query)",
                MLPipelinesWarning,
                stacklevel=2,
            )

    def endpoint(self) -> TransferEndpoint:
        """The model of this end."""
        return TransferEndpoint(
            self.datastore.name,
            sql_table=self.sql_table,
            sql_query=self.sql_query,
            sql_stored_procedure=self.sql_stored_procedure,
        )


class DataTransferStep(PythonScriptStep):
    """Move data between datastores (files, folders, SQL tables); see the module docstring.

    :param reuse_query: This provider's addition: a query on the SQL source whose result identifies its
        state (``SELECT max(updated_at) FROM sales``); without it a SQL source re-runs every time.
    :param format: What a SQL source is written as: ``parquet`` (default; CSV for a ``*.csv`` path) or
        ``csv``.
    """

    def __init__(
        self,
        name: str,
        source_data_reference: Any = None,
        destination_data_reference: Any = None,
        compute_target: Any = None,
        source_reference_type: ReferenceType | None = None,
        destination_reference_type: ReferenceType | None = None,
        allow_reuse: bool = True,
        *,
        reuse_query: str | None = None,
        format: str | None = None,
    ) -> None:
        # PythonScriptStep.__init__ is not called: a transfer runs no script; the attributes its graph
        # methods use are set here.
        self.location = _caller_location()
        self.name = name
        self.script_name = ""
        self.source_directory = None
        self.compute_target = None
        self.runconfig = None
        self.params: dict[str, Any] = {}
        self.version = None
        self.hash_paths: list[str] = []
        self.arguments: list[Any] = []
        self.allow_reuse = bool(allow_reuse)
        self.source = source_data_reference
        self.destination = destination_data_reference
        self.source_reference_type = source_reference_type
        self.destination_reference_type = destination_reference_type
        self.reuse_query = reuse_query
        self.format = format
        self._run_after: list[PythonScriptStep] = []
        if compute_target is not None:
            loc = self.location
            warnings.warn_explicit(
                f"step '{name}': compute_target is ignored: a data transfer runs on the Airflow worker "
                "(Azure ML ran it on Data Factory)",
                MLPipelinesWarning,
                loc.file,
                loc.line or 0,
            )
        if source_data_reference is None or destination_data_reference is None:
            missing = (
                "source_data_reference" if source_data_reference is None else "destination_data_reference"
            )
            raise DefinitionError(
                f"a DataTransferStep needs {missing}", location=self.location, step=name, field=missing
            )
        self._output = self._make_output()
        self.inputs = (
            [source_data_reference] if not isinstance(source_data_reference, SqlDataReference) else []
        )
        self.outputs = [self._output] if self._output is not None else []
        self.register_outputs()

    def _make_output(self) -> PipelineData | None:
        dest = self.destination
        if isinstance(dest, PipelineData):
            return dest
        if isinstance(dest, DataReference):
            return PipelineData(
                dest.data_reference_name or transfer.default_output_name(self.name), dest.datastore
            )
        if isinstance(dest, SqlDataReference):
            return None
        raise DefinitionError(
            f"unsupported destination_data_reference {dest!r}",
            location=self.location,
            step=self.name,
            field="destination_data_reference",
            hint="a DataReference, SqlDataReference or PipelineData",
        )

    def get_output(self) -> PipelineData:
        """The destination as ``PipelineData`` for later steps' inputs (they run after this step)."""
        if self._output is None:
            raise DefinitionError(
                "a SQL table destination has no output to consume",
                location=self.location,
                step=self.name,
                field="destination_data_reference",
                hint="order a later step after the load with later_step.run_after(transfer_step)",
            )
        return self._output

    def spec(self, base_dir: str, default_source_directory: str | None) -> tuple[StepSpec, list[Any]]:
        """Compile to the model (and the datasets and datastores the ends use)."""
        used: list[Any] = []
        source = self.source
        source_end: TransferEndpoint | None = None
        source_input: str | None = None
        if isinstance(source, SqlDataReference):
            source_end = source.endpoint()
            used.append(source.datastore)
        elif isinstance(source, DataReference):
            source_end = source.endpoint(self.source_reference_type)
            used.append(source.datastore)
        elif isinstance(source, PipelineData | PipelineDataInput | DatasetConsumptionConfig | _Dataset):
            source_input = self._input_name(source, [], used)
        else:
            raise DefinitionError(
                f"unsupported source_data_reference {source!r}",
                location=self.location,
                step=self.name,
                field="source_data_reference",
                hint="a DataReference, SqlDataReference, PipelineData or dataset",
            )
        dest = self.destination
        if isinstance(dest, SqlDataReference):
            dest_end = dest.endpoint()
            used.append(dest.datastore)
        elif isinstance(dest, DataReference):
            dest_end = dest.endpoint(self.destination_reference_type)
            used.append(dest.datastore)
        else:
            assert self._output is not None  # noqa: S101 - PipelineData destinations have one
            store = self._output.datastore
            dest_end = TransferEndpoint(
                store.name if store is not None else DEFAULT_DATASTORE,
                path="",
                reference_type=self.destination_reference_type,
            )
        fmt = self.format
        if fmt is not None and fmt not in transfer.FORMATS:
            raise DefinitionError(
                f"unknown format {fmt!r}", location=self.location, step=self.name, field="format",
                hint=f"one of: {', '.join(transfer.FORMATS)}",
            )  # fmt: skip
        step, datasets = transfer.build_step(
            name=self.name,
            base_dir=os.path.normpath(base_dir),
            source=source_end,
            source_input=source_input,
            destination=dest_end,
            destination_output=self._output.name if self._output is not None else None,
            destination_fixed=isinstance(dest, DataReference),
            format=fmt,  # type: ignore[arg-type]
            reuse_query=self.reuse_query,
            allow_reuse=self.allow_reuse,
            run_after=[s.name for s in self._run_after],
            location=self.location,
        )
        used.extend(datasets)
        if getattr(self._output, "kind", "file") == "tabular":  # consumers read it as a tabular dataset
            step = replace(step, outputs=tuple(replace(o, kind="tabular") for o in step.outputs))
        return step, used
