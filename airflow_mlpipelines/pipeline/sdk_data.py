"""SDK v1 data names a port touches: ``DataPath``, ``DataPathComputeBinding``, ``OutputFileDatasetConfig``.

- ``DataPath(datastore, path_on_datastore, name=None)`` is a path on a datastore. As a
  ``PipelineParameter`` default (``PipelineParameter("data", default_value=DataPath(store, "raw"))``)
  used as ``(param, DataPathComputeBinding())`` in a step's ``inputs``/``arguments``, the path is chosen
  per run (``conf``: ``{"data": {"datastore": "lake", "path_on_datastore": "raw/2024"}}`` or
  ``{"data": "lake/raw/2024"}``; see :mod:`airflow_mlpipelines.pipeline.datapath`); a ``DataPath``
  alone (or ``(DataPath, binding)``) is a fixed input, like a dataset.
- ``OutputFileDatasetConfig(name=None, destination=None, source=None, partition_format=None)`` is a
  step output that later steps consume like ``PipelineData`` (it is one). ``destination=(datastore,
  "path/{run-id}/{output-name}")`` writes exactly there (``{run-id}`` is the run's id, ``{output-name}``
  the output's name); without a destination it is a fresh folder per run on the default datastore.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning, SourceLocation
from airflow_mlpipelines.pipeline.callsite import caller_location
from airflow_mlpipelines.pipeline.datapath import datapath_dataset
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, DatasetSpec, OutputSpec
from airflow_mlpipelines.pipeline.sdk import Datastore, PipelineData, PipelineDataInput, PipelineParameter
from airflow_mlpipelines.pipeline.sdk_storage import _notebook
from airflow_mlpipelines.pipeline.transfer import contained

if TYPE_CHECKING:
    from collections.abc import Sequence

RUN_ID = "{run-id}"
OUTPUT_NAME = "{output-name}"


def _store(value: Any, location: SourceLocation, what: str) -> Datastore:
    if isinstance(value, Datastore):
        return value
    if value is None:
        return Datastore(None, DEFAULT_DATASTORE)
    if isinstance(value, str):
        return Datastore(None, value)
    raise DefinitionError(
        f"{what}: datastore must be a Datastore (or its name), got {value!r}",
        location=location,
        field="datastore",
    )


class DataPath:
    """``azureml.data.datapath.DataPath``: ``path_on_datastore`` on ``datastore`` (a Datastore or a name)."""

    def __init__(self, datastore: Any = None, path_on_datastore: str | None = None, name: str | None = None):
        self.location = caller_location()
        self.datastore = _store(datastore, self.location, "DataPath")
        self.path_on_datastore = str(path_on_datastore or "")
        self.name = name

    def create_data_reference(self, data_reference_name: str | None = None, **_kwargs: Any) -> Any:
        """SDK v1's ``DataReference`` on this path (a data transfer's end)."""
        from airflow_mlpipelines.pipeline.sdk_transfer import DataReference

        return DataReference(self.datastore, data_reference_name or self.name, self.path_on_datastore)


class DataPathComputeBinding:
    """How a step sees a :class:`DataPath`: ``mount`` (in place where the datastore is local, else a copy)
    or ``download`` (always a copy). ``path_on_compute`` and ``overwrite`` are accepted and have no effect:
    the runner picks the local path and never writes inputs."""

    def __init__(
        self, mode: str = "mount", path_on_compute: str | None = None, overwrite: bool = False
    ) -> None:
        if mode not in ("mount", "download"):
            raise DefinitionError(
                f"DataPathComputeBinding: unknown mode {mode!r}",
                location=caller_location(),
                field="mode",
                hint="'mount' or 'download'",
            )
        self.mode: Literal["mount", "download"] = mode  # type: ignore[assignment]
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite


def is_data_input(item: Any) -> bool:
    """Whether ``item`` is a step input :func:`data_input` builds (a data path or a ``DataReference``)."""
    from airflow_mlpipelines.pipeline.sdk_transfer import DataReference

    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], DataPathComputeBinding):
        return True
    return isinstance(item, DataPath | DataReference) or (
        isinstance(item, PipelineParameter) and isinstance(item.default_value, DataPath)
    )


def data_input(
    item: Any, step: str, index: int, location: SourceLocation | None
) -> tuple[str, list[Any]] | None:
    """A step input built from a data path (``DataPath``, ``(DataPath | PipelineParameter, binding)``):
    its input name and what the pipeline declares for it (the dataset, the parameter, the datastore);
    None when ``item`` is no data path."""
    from airflow_mlpipelines.pipeline.sdk_transfer import DataReference

    if not is_data_input(item):
        return None
    if isinstance(item, DataReference):  # ``datastore.path("folder")`` / ``DataReference(...)``: fixed
        name = item.data_reference_name or f"{step}_input{index}"
        dataset = DatasetSpec(name, item.datastore.name, (item.path_on_datastore,), location=item.location)
        return name, [item.datastore, dataset]
    binding = DataPathComputeBinding()
    if isinstance(item, tuple):
        item, binding = item
    if isinstance(item, PipelineParameter):
        default = item.default_value
        if not isinstance(default, DataPath):
            raise DefinitionError(
                f"parameter '{item.name}' is bound with DataPathComputeBinding but its default is "
                f"{default!r}, not a DataPath",
                location=location,
                step=step,
                field="inputs",
                hint="PipelineParameter(name, default_value=DataPath(datastore, 'path'))",
            )
        dataset = datapath_dataset(
            item.name, item.name, default.datastore.name, default.path_on_datastore, binding.mode,
            default.location,
        )  # fmt: skip
        return item.name, [item, default.datastore, dataset]
    if isinstance(item, DataPath):
        name = item.name or f"{step}_input{index}"
        dataset = DatasetSpec(
            name=name,
            datastore=item.datastore.name,
            paths=(item.path_on_datastore,),
            mode="download" if binding.mode == "download" else "direct",
            location=item.location,
        )
        return name, [item.datastore, dataset]
    raise DefinitionError(
        f"unsupported data path {item!r}",
        location=location,
        step=step,
        field="inputs",
        hint="(PipelineParameter with a DataPath default, DataPathComputeBinding()) or (DataPath, binding)",
    )


class SqlQueryDataset:
    """``Dataset.Tabular.from_sql_query((sql_datastore, "SELECT ..."))``: a tabular dataset read from a
    SQL datastore when the pipeline runs.

    Consumed with ``.as_named_input(name)``, it becomes a data transfer step ``<name>_query`` (SQL →
    ``data.parquet``, on the worker, through the same SQL read path as ``DataTransferStep``) whose output
    ``name`` is the consumer's input: ``Run.input_datasets[name].to_pandas_dataframe()`` reads the rows,
    ``sys.argv`` gets the folder. Reuse follows data transfers: without ``reuse_query`` (this provider's
    addition: a query whose result identifies the source's state, e.g. ``SELECT max(updated_at) FROM
    t``) the query re-runs every pipeline run; with it, only when that result changes.
    """

    def __init__(self, query: Any, reuse_query: str | None = None) -> None:
        self.location = caller_location()
        if not (isinstance(query, tuple) and len(query) == 2 and isinstance(query[1], str)):
            raise DefinitionError(
                f"from_sql_query: expected (sql_datastore, 'SELECT ...'), got {query!r}",
                location=self.location,
                field="query",
            )
        self.datastore = _store(query[0], self.location, "from_sql_query")
        if self.datastore.connection is None:
            raise DefinitionError(
                f"from_sql_query: datastore '{self.datastore.name}' is not a SQL datastore",
                location=self.location,
                field="query",
                hint="register it with Datastore.register_azure_sql_database/postgre_sql/my_sql",
            )
        self.query = query[1]
        self.reuse_query = reuse_query
        self._inputs: dict[str, PipelineDataInput] = {}

    def as_named_input(self, name: str) -> PipelineDataInput:
        """The query's rows as input ``name`` of a step (one transfer step per name, shared by consumers)."""
        if name not in self._inputs:
            from airflow_mlpipelines.pipeline.sdk_transfer import DataTransferStep, SqlDataReference

            output = OutputFileDatasetConfig(name).read_parquet_files()
            output.location = self.location
            DataTransferStep(
                f"{name}_query",
                source_data_reference=SqlDataReference(self.datastore, sql_query=self.query),
                destination_data_reference=output,
                reuse_query=self.reuse_query,
            )
            self._inputs[name] = output.as_input()
        return self._inputs[name]

    def to_pandas_dataframe(self, **_kwargs: Any) -> Any:
        """In a notebook: the query's rows now, through the SQL datastore's Airflow connection."""
        return _notebook().read_sql(str(self.datastore.connection), self.query)


class OutputFileDatasetConfig(PipelineData):
    """``azureml.data.OutputFileDatasetConfig``: a step's output folder, consumed by later steps as input
    (``step_b(inputs=[out.as_input()])``, or the object itself in ``arguments``), like ``PipelineData``.

    ``destination=(datastore, "path/{run-id}/{output-name}")`` is where it is written (a path without
    ``{run-id}`` is the same folder every run: it is emptied first, so this needs
    ``as_upload(overwrite=True)``); ``None`` is a fresh folder per run on the default datastore.
    ``read_delimited_files()``/``read_parquet_files()`` make consumers see a tabular dataset
    (``Run.input_datasets[name].to_pandas_dataframe()``). ``source`` (a folder on the compute) is not
    used: the step writes into the folder it is given.
    """

    def __init__(
        self,
        name: str | None = None,
        destination: Any = None,
        source: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        self.location = caller_location()
        store, path = self._destination(destination)
        super().__init__(name or "", store)
        self._named = name is not None
        self.path_template = path
        self.kind: Literal["file", "tabular"] = "file"
        self.overwrite = False
        self.registered_as: str | None = None
        if source is not None:
            self._warn("source= has no effect: the step writes into the folder its argument names")
        if partition_format is not None:
            self._warn("partition_format= has no effect on an output (it describes how inputs are read)")

    def _warn(self, message: str) -> None:
        warnings.warn_explicit(
            f"OutputFileDatasetConfig: {message}",
            MLPipelinesWarning,
            self.location.file,
            self.location.line or 0,
        )

    def _destination(self, destination: Any) -> tuple[Datastore | None, str | None]:
        if destination is None:
            return None, None
        if isinstance(destination, tuple) and len(destination) == 2:
            store = _store(destination[0], self.location, "OutputFileDatasetConfig")
            path = str(destination[1])
            if contained(path.replace(RUN_ID, "r").replace(OUTPUT_NAME, "o")) is None:
                raise DefinitionError(
                    f"OutputFileDatasetConfig: destination path {path!r} must be a relative path inside "
                    f"datastore '{store.name}'",
                    location=self.location,
                    field="destination",
                )
            return store, path
        raise DefinitionError(
            f"OutputFileDatasetConfig: unsupported destination {destination!r}",
            location=self.location,
            field="destination",
            hint="(datastore, 'path/{run-id}/{output-name}')",
        )

    def named(self, name: str) -> None:
        """Give an unnamed output its name (that of its producing step's slot, stable across parses)."""
        if not self._named:
            self.name = self.output_name = name
            self._named = True

    # -- SDK v1's fluent methods: each returns this output, so producers and consumers share it ---------
    def as_upload(
        self, overwrite: bool = False, source_globs: Sequence[str] | None = None
    ) -> OutputFileDatasetConfig:
        """Written to the destination when the step ends (how every output is written here)."""
        self.overwrite = bool(overwrite)
        return self

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:  # type: ignore[override]
        """Written to the destination when the step ends (a local datastore is written in place)."""
        return self

    def read_delimited_files(self, **_kwargs: Any) -> OutputFileDatasetConfig:
        """Consumers read the output as a tabular dataset of CSV files."""
        self.kind = "tabular"
        return self

    def read_parquet_files(self, **_kwargs: Any) -> OutputFileDatasetConfig:
        """Consumers read the output as a tabular dataset of Parquet files."""
        self.kind = "tabular"
        return self

    def as_input(self, name: str | None = None) -> PipelineDataInput:
        """Consume this output in a later step (``name`` is the output's name here: ``Run.input_datasets``
        and the manifest key it by that)."""
        if name is not None and self._named and name != self.name:
            self._warn(f"as_input(name={name!r}): the input keeps the output's name '{self.name}'")
        return PipelineDataInput(self)

    def register_on_complete(
        self, name: str, description: str | None = None, tags: Any = None
    ) -> OutputFileDatasetConfig:
        """Register the output as dataset ``name`` once its step committed it (a new version each time its
        folder is another; a reused step registers nothing new). ``description``/``tags`` are not kept."""
        self.registered_as = name
        return self

    def spec(self) -> OutputSpec:
        """The model of this output (its fixed destination, when it has one)."""
        store = self.datastore.name if self.datastore else DEFAULT_DATASTORE
        path = None if self.path_template is None else self.path_template.replace(OUTPUT_NAME, self.name)
        if path is not None and RUN_ID not in path and not self.overwrite:
            raise DefinitionError(
                f"output '{self.name}': destination {path!r} has no {RUN_ID}, so every run writes the same "
                "folder and replaces what an earlier run left there",
                location=self.location,
                field="destination",
                hint=f"put {RUN_ID} in the path, or say .as_upload(overwrite=True) to replace it each run",
            )
        return OutputSpec(self.name, store, path=path, kind=self.kind, register_as=self.registered_as)


__all__ = [
    "DataPath",
    "DataPathComputeBinding",
    "OutputFileDatasetConfig",
    "SqlQueryDataset",
    "data_input",
    "is_data_input",
]
