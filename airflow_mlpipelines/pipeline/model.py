"""The pure pipeline model: frozen dataclasses that both the YAML and the Python loaders produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch
    from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, EnvironmentSpec
    from airflow_mlpipelines.pipeline.recurrence import Recurrence

RefKind = Literal["input", "output", "parameter"]
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]
StepKind = Literal["python_script", "execute_python_script", "data_transfer", "command", "parallel_run"]

DEFAULT_DATASTORE = "workspaceblobstore"
"""Azure ML's default datastore name; it maps to the configured datastore root."""

LOCAL_COMPUTE = "local"


@dataclass(frozen=True)
class Ref:
    """A placeholder inside a step argument, replaced by a path or value when the step runs."""

    kind: RefKind
    name: str

    def __str__(self) -> str:
        return "${{" + f"{self.kind}s.{self.name}" + "}}"


ArgPart = str | Ref


@dataclass(frozen=True)
class Argument:
    """One command-line argument: literal text and references, concatenated at run time."""

    parts: tuple[ArgPart, ...]

    @property
    def refs(self) -> tuple[Ref, ...]:
        """The references in this argument, in order."""
        return tuple(p for p in self.parts if isinstance(p, Ref))

    def __str__(self) -> str:
        return "".join(str(p) for p in self.parts)


@dataclass(frozen=True)
class DatastoreSpec:
    """A named storage location. ``url`` None means ``<datastore_root>/<name>`` from configuration.

    A SQL datastore (Azure ML's SQL database and PostgreSQL datastores) names an Airflow connection
    (``connection``) instead of a URL: any database a common-sql ``DbApiHook`` reaches. Only data
    transfers read or write it.
    """

    name: str
    url: str | None = None
    connection: str | None = None

    @property
    def is_sql(self) -> bool:
        """Whether this datastore is a database (reached through an Airflow connection)."""
        return self.connection is not None


@dataclass(frozen=True)
class DatasetSpec:
    """Existing data on a datastore, consumed by steps as a named input (file or folder paths).

    ``kind="model"``: a registered model's version instead (``model`` its name, ``model_version`` the
    version, None for the latest registered when the step runs; ``paths`` is empty). The registry
    lives below the datastore root, so ``datastore`` is the default one.
    """

    name: str
    datastore: str
    paths: tuple[str, ...]
    mode: Literal["download", "mount", "direct"] = "direct"
    kind: Literal["file", "tabular", "model"] = "file"
    location: SourceLocation | None = None
    model: str | None = None
    model_version: int | None = None
    partition_format: str | None = None
    """SDK v1's ``partition_format`` (``"/{region}/{day:yyyy/MM/dd}/data.csv"``): columns from each file's
    path when read as a table; a parallel run's ``partition_keys`` may name them."""
    parameter: str | None = None
    """A data path parameter (``ParameterSpec.datapath``) whose run-time value picks the datastore and path;
    ``datastore``/``paths`` are then its default (see :mod:`airflow_mlpipelines.pipeline.datapath`)."""


@dataclass(frozen=True)
class OutputSpec:
    """Intermediate data a step writes into a fresh directory (Azure ML's ``PipelineData``).

    ``path`` set: the output is that exact path on the datastore (a data transfer's ``DataReference``
    destination, an ``OutputFileDatasetConfig`` destination), not a fresh folder per run; ``{run-id}``
    in it is replaced by the run's id when the step runs.
    """

    name: str
    datastore: str = DEFAULT_DATASTORE
    path: str | None = None
    kind: Literal["file", "tabular"] = "file"
    """``tabular``: consumers read it as a tabular dataset (``OutputFileDatasetConfig.read_*_files()``)."""
    register_as: str | None = None
    """A dataset name: once committed, the output is registered (``register_on_complete``)."""


def infer_param_type(value: object) -> ParamType | None:
    """JSON-schema type of a parameter's default value (None when it has no single scalar type)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


@dataclass(frozen=True)
class ParameterSpec:
    """A pipeline parameter (Azure ML's ``PipelineParameter``), rendered as an Airflow ``Param``.

    Loaders fill ``type`` from the default value when the definition does not declare it.
    """

    name: str
    default: object
    type: ParamType | None = None
    description: str | None = None
    enum: tuple[object, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    datapath: bool = False
    """A datastore path chosen per run (SDK v1's ``DataPath`` default); see ``pipeline/datapath.py``."""


@dataclass(frozen=True)
class ComputeSpec:
    """Where a step runs: the name of a compute target (``PipelineSpec.compute_targets``, or ``local``)."""

    name: str = LOCAL_COMPUTE


@dataclass(frozen=True)
class ParallelRunSpec:
    """Azure ML SDK v1's ``ParallelRunConfig`` for one ``parallel_run`` step (``pipeline/parallel.py``).

    ``input`` is the dataset (or upstream output) cut into mini-batches; ``mini_batch_size`` is a count
    of files for a file input, bytes for a tabular one (``"1MB"`` parsed at load time); None: SDK v1's
    defaults (10 files, 1 MiB). ``error_threshold`` -1 ignores failures.
    """

    entry_script: str
    input: str
    output: str
    output_action: Literal["append_row", "summary_only"] = "append_row"
    mini_batch_size: int | None = None
    error_threshold: int = -1
    allowed_failed_count: int | None = None
    allowed_failed_percent: float | None = None
    append_row_file_name: str = "parallel_run_step.txt"
    process_count_per_node: int = 1
    node_count: int = 1
    run_invocation_timeout: int = 60
    run_max_try: int = 3
    partition_keys: tuple[str, ...] = ()
    logging_level: str = "INFO"
    environment_variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ExecutePythonScriptSpec:
    """What an Execute Python Script step adds to a step (Azure ML Studio's module, seeds 000/003).

    Exactly one of ``script`` (inline text) and ``script_file`` (absolute path, read at run time) is
    set. ``dataframe1``/``dataframe2`` name the inputs on the two DataFrame ports (datasets or other
    steps' outputs; also listed in the step's ``inputs``); ``bundle`` is the zip of modules put on
    ``sys.path``. The two outputs are also the step's ``outputs``, in this order.
    """

    dataframe_output: str
    visualizations_output: str
    script: str | None = None
    script_file: str | None = None
    script_line: int | None = None
    bundle: str | None = None
    dataframe1: str | None = None
    dataframe2: str | None = None
    time_limit_seconds: float | None = None
    memory_limit_mb: int | None = None

    @property
    def ports(self) -> dict[str, str | None]:
        """Port name -> connected input name (None when the port is not connected)."""
        return {"dataframe1": self.dataframe1, "dataframe2": self.dataframe2}


@dataclass(frozen=True)
class NotifierSpec:
    """An Airflow notifier called when a task fails: its class's import path and keyword arguments."""

    class_path: str
    args: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class TaskSettings:
    """Airflow task settings a definition may give (pipeline-wide in ``default_args``, per step as
    overrides); None keeps Airflow's own default. Durations are seconds. A step's ``retries``,
    ``retry_delay_seconds`` and ``queue`` are the step's own fields; here they are the pipeline's."""

    owner: str | None = None
    retries: int | None = None
    retry_delay_seconds: float | None = None
    queue: str | None = None
    retry_exponential_backoff: bool | None = None
    max_retry_delay_seconds: float | None = None
    execution_timeout_seconds: float | None = None
    pool: str | None = None
    pool_slots: int | None = None
    priority_weight: int | None = None
    email: tuple[str, ...] | None = None
    email_on_failure: bool | None = None
    email_on_retry: bool | None = None
    on_failure_notifiers: tuple[NotifierSpec, ...] = ()

    def over(self, base: TaskSettings) -> TaskSettings:
        """These settings where set, ``base``'s elsewhere (a step's overrides over the pipeline's)."""
        values = {}
        for name in self.__dataclass_fields__:
            mine = getattr(self, name)
            values[name] = mine if mine not in (None, ()) else getattr(base, name)
        return TaskSettings(**values)


ReferenceType = Literal["file", "directory"]
TransferFormat = Literal["parquet", "csv"]


@dataclass(frozen=True)
class TransferEndpoint:
    """One end of a data transfer: a path on a file datastore, or a table/query/procedure of a SQL one.

    ``reference_type`` is ``file`` or ``directory`` for file endpoints (None: decided as SDK v1 did, see
    :func:`airflow_mlpipelines.pipeline.transfer.reference_types`).
    """

    datastore: str
    path: str | None = None
    sql_table: str | None = None
    sql_query: str | None = None
    sql_stored_procedure: str | None = None
    reference_type: ReferenceType | None = None

    @property
    def is_sql(self) -> bool:
        """Whether this end names a table, query or stored procedure."""
        return any(v is not None for v in (self.sql_table, self.sql_query, self.sql_stored_procedure))


@dataclass(frozen=True)
class DataTransferSpec:
    """What a data transfer step adds to a step (Azure ML SDK v1's ``DataTransferStep``).

    A file source is also the step's one input (``source_input``: a dataset or another step's output),
    so it is fingerprinted by content like any input; the destination is the step's one output
    (``destination_output``) unless it is a SQL table. ``format`` is what a SQL source is written as;
    ``reuse_query`` is a query whose result identifies a SQL source's state (without it, a transfer
    from SQL re-runs every time).
    """

    source: TransferEndpoint
    destination: TransferEndpoint
    source_input: str | None = None
    destination_output: str | None = None
    format: TransferFormat = "parquet"
    reuse_query: str | None = None
    batch_rows: int = 65_536


@dataclass(frozen=True)
class StepSpec:
    """One step of a pipeline.

    ``inputs`` are names of datasets or of other steps' outputs; ``source_directory`` is an
    absolute path computed from the definition file's folder without touching the disk. A ``command``
    step (SDK v1's CommandStep) has an empty ``script_name``: its ``arguments`` are the command's
    words, the first one the program.
    """

    name: str
    script_name: str
    source_directory: str
    arguments: tuple[Argument, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    kind: StepKind = "python_script"
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    allow_reuse: bool = True
    run_after: tuple[str, ...] = ()
    hash_paths: tuple[str, ...] = ()
    version: str | None = None
    environment: tuple[tuple[str, object], ...] = ()
    location: SourceLocation | None = None
    environment_name: str | None = None
    """A declared environment (``PipelineSpec.environments``); ``environment`` is then left empty."""
    eps: ExecutePythonScriptSpec | None = None
    """Set exactly when ``kind`` is ``execute_python_script``."""
    transfer: DataTransferSpec | None = None
    """Set exactly when ``kind`` is ``data_transfer``."""
    parallel: ParallelRunSpec | None = None
    """Set exactly when ``kind`` is ``parallel_run``."""
    queue: str | None = None
    """The Airflow queue (Celery queue) both of the step's tasks go to; None: the default queue."""
    retries: int | None = None
    """How often Airflow retries the step's tasks after a failure (a lost worker, a store that was down);
    None: Airflow's ``[core] default_task_retries``."""
    retry_delay_seconds: float | None = None
    """The wait before a retry; None: Airflow's default (``[core] default_task_retry_delay``)."""
    settings: TaskSettings = field(default_factory=TaskSettings)
    """The step's own Airflow task settings (over the pipeline's ``default_args``)."""


@dataclass(frozen=True)
class PipelineSpec:
    """A whole pipeline; ``steps`` are in a valid execution (topological) order."""

    name: str
    steps: tuple[StepSpec, ...]
    description: str | None = None
    schedule: str | Recurrence | AssetSchedule | DatastoreWatch | None = None
    """A cron expression or Airflow preset, a recurrence (Azure ML's ``ScheduleRecurrence``), the assets
    it waits for, or a datastore watch (``pipeline/assets.py``); None: triggered only."""
    parameters: tuple[ParameterSpec, ...] = ()
    datastores: tuple[DatastoreSpec, ...] = ()
    datasets: tuple[DatasetSpec, ...] = ()
    tags: tuple[str, ...] = ()
    source: SourceLocation | None = None
    compute_targets: tuple[ComputeTargetSpec, ...] = ()
    environments: tuple[EnvironmentSpec, ...] = ()
    locations: tuple[tuple[str, SourceLocation], ...] = ()
    """Where top-level keys (``schedule``, ...) are written, for errors found after loading."""
    default_args: TaskSettings = field(default_factory=TaskSettings)
    """Airflow task settings of every step (``retries``/``queue`` defaults live on the steps)."""
    max_active_runs: int | None = None
    catchup: bool = False
    doc_md: str | None = None
    definition_text: str | None = None
    """The definition file's text (shown in the DAG's docs and the plugin's definition page)."""

    def where(self, key: str) -> SourceLocation | None:
        """The location of top-level key ``key`` in the definition (else the definition's own)."""
        return dict(self.locations).get(key, self.source)

    def step(self, name: str) -> StepSpec:
        """Return the step called ``name``."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def producers(self) -> dict[str, str]:
        """Map each output name to the step that produces it."""
        return {o.name: s.name for s in self.steps for o in s.outputs}
