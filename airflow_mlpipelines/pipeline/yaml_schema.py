"""The YAML definition format as pydantic models: the single source of truth for its keys and types."""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Tag,
)

from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, LOCAL_COMPUTE
from airflow_mlpipelines.pipeline.yaml_assets import SCHEDULE_KEYS as ASSET_SCHEDULE_KEYS
from airflow_mlpipelines.pipeline.yaml_assets import AssetScheduleModel, DatastoreWatchModel
from airflow_mlpipelines.pipeline.yaml_compute import (
    COMPUTE_KEYS_BY_SECTION,
    ComputeTargetModel,
    EnvironmentModel,
)

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterModel(_Strict):
    """``parameters.<name>``: a typed run-time parameter."""

    type: Literal["string", "integer", "number", "boolean", "array", "object"] | None = None
    default: Any = None
    description: str | None = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None


class DatastoreModel(_Strict):
    """``datastores.<name>``: a URL (or a path relative to the definition file), or ``connection``: the
    Airflow connection id of a SQL database (read and written by data transfer steps)."""

    url: str | None = None
    connection: str | None = None


class DatasetModel(_Strict):
    """``datasets.<name>``: files or folders on a datastore."""

    datastore: str = DEFAULT_DATASTORE
    path: str | None = None
    paths: list[str] | None = None
    mode: Literal["direct", "mount", "download"] = "direct"
    kind: Literal["file", "tabular"] = "file"
    partition_format: str | None = None
    """SDK v1's ``partition_format``: keys in the end of the files' paths (``/{region}/{day}/*.csv``)."""


class ModelInputModel(_Strict):
    """``models.<input name>``: a registered model a step lists in ``inputs`` (the version's file or
    folder is its local path); no ``version``: the latest registered when the step runs."""

    name: str
    version: PositiveInt | None = None


class OutputModel(_Strict):
    """``steps[].outputs[]`` in long form."""

    name: str
    datastore: str = DEFAULT_DATASTORE


ArgumentValue = Scalar | dict[str, str]


class NotifierModel(_Strict):
    """``on_failure_notifiers[]``: an Airflow notifier (``class``: its import path) and its arguments."""

    class_: str = Field(alias="class")
    args: dict[str, Any] = {}


class _TaskSettingsFields(_Strict):
    """Airflow task settings a step may set (durations in seconds); the pipeline's are ``default_args``."""

    owner: str | None = None
    retry_exponential_backoff: bool | None = None
    max_retry_delay: PositiveFloat | None = None
    execution_timeout: PositiveFloat | None = None
    pool: str | None = None
    pool_slots: PositiveInt | None = None
    priority_weight: int | None = None
    email: str | list[str] | None = None
    email_on_failure: bool | None = None
    email_on_retry: bool | None = None
    on_failure_notifiers: list[NotifierModel] = []


class DefaultArgsModel(_TaskSettingsFields):
    """``default_args``: Airflow task settings of every step (a step's own keys override them)."""

    retries: NonNegativeInt | None = None
    retry_delay: PositiveFloat | None = None
    queue: str | None = None


class _ProcessStepFields(_TaskSettingsFields):
    """The keys a step that runs a process (a script, a command) has besides what it runs."""

    name: str
    source_directory: str | None = None
    inputs: list[str] = []
    outputs: list[str | OutputModel] = []
    compute: str | None = Field(default=None, validation_alias=AliasChoices("compute", "compute_target"))
    allow_reuse: bool = True
    run_after: list[str] = []
    hash_paths: list[str] = []
    version: str | None = None
    environment: str | EnvironmentModel | None = None
    queue: str | None = None
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = Field(
        default=None, validation_alias=AliasChoices("retry_delay_seconds", "retry_delay")
    )


class StepModel(_ProcessStepFields):
    """``steps[]``: one PythonScriptStep."""

    type: Literal["python_script", "execute_python_script"] = "python_script"
    script: str = Field(validation_alias=AliasChoices("script", "script_name"))
    arguments: list[ArgumentValue] = []


class EpsOutputsModel(_Strict):
    """``steps[].outputs`` of an Execute Python Script step: names of its two output ports."""

    dataframe: str | None = None
    visualizations: str | None = None


class ExecutePythonScriptStepModel(_TaskSettingsFields):
    """``steps[]`` with ``type: execute_python_script``: Azure ML Studio's Execute Python Script module."""

    name: str
    type: Literal["execute_python_script"]
    script: str | None = None
    script_file: str | None = None
    bundle: str | None = None
    dataframe1: str | None = None
    dataframe2: str | None = None
    outputs: EpsOutputsModel = EpsOutputsModel()
    allow_reuse: bool = True
    run_after: list[str] = []
    version: str | None = None
    queue: str | None = None
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = Field(
        default=None, validation_alias=AliasChoices("retry_delay_seconds", "retry_delay")
    )
    time_limit_seconds: PositiveFloat | None = None
    memory_limit_mb: PositiveInt | None = None


class TransferEndpointModel(_Strict):
    """``source`` / ``destination`` of a data transfer step (Azure ML's data references).

    Files: ``datastore`` + ``path`` (``type`` file or directory); on the source side ``input`` names a
    dataset or another step's output instead; on the destination side ``output`` names a fresh folder
    per run (``PipelineData``) that later steps list in their ``inputs``. SQL: ``datastore`` (one with
    a ``connection``) + ``sql_table``, ``sql_query`` or ``sql_stored_procedure``.
    """

    datastore: str = DEFAULT_DATASTORE
    path: str | None = None
    type: Literal["file", "directory"] | None = None
    input: str | None = None
    output: str | None = None
    name: str | None = None
    sql_table: str | None = None
    sql_query: str | None = None
    sql_stored_procedure: str | None = None


class DataTransferStepModel(_TaskSettingsFields):
    """``steps[]`` with ``type: data_transfer``: Azure ML SDK v1's DataTransferStep."""

    name: str
    type: Literal["data_transfer"]
    source: TransferEndpointModel = Field(validation_alias=AliasChoices("source", "source_data_reference"))
    destination: TransferEndpointModel = Field(
        validation_alias=AliasChoices("destination", "destination_data_reference")
    )
    source_reference_type: Literal["file", "directory"] | None = None
    destination_reference_type: Literal["file", "directory"] | None = None
    format: Literal["parquet", "csv"] | None = None
    reuse_query: str | None = None
    compute: str | None = Field(default=None, validation_alias=AliasChoices("compute", "compute_target"))
    allow_reuse: bool = True
    run_after: list[str] = []
    queue: str | None = None
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = Field(
        default=None, validation_alias=AliasChoices("retry_delay_seconds", "retry_delay")
    )


class CommandStepModel(_ProcessStepFields):
    """``steps[]`` with ``type: command``: Azure ML SDK v1's CommandStep, a command line instead of a
    script (a string split into words like a shell would, or a list of words and references)."""

    type: Literal["command"]
    command: str | list[ArgumentValue]


class ParallelRunConfigModel(_Strict):
    """``parallel_run_config`` of a ``type: parallel_run`` step: SDK v1's ``ParallelRunConfig`` keywords
    (the values' rules, shared with Python definitions, are ``pipeline/parallel.py``'s)."""

    entry_script: str
    mini_batch_size: int | str | None = None
    error_threshold: int = -1
    allowed_failed_count: int | None = None
    allowed_failed_percent: float | None = None
    output_action: Literal["append_row", "summary_only"] = "append_row"
    append_row_file_name: str | None = None
    process_count_per_node: int | None = None
    node_count: int = 1
    run_invocation_timeout: int = 60
    run_max_try: int = 3
    partition_keys: list[str] = []
    logging_level: str = "INFO"
    environment_variables: dict[str, str] = {}


class ParallelRunStepModel(_TaskSettingsFields):
    """``steps[]`` with ``type: parallel_run``: Azure ML SDK v1's ParallelRunStep. The first of ``inputs``
    is cut into mini-batches (the others, and ``side_inputs``, are staged whole); ``output`` is the step's
    one output (``parallel_run_step.txt`` for ``append_row``)."""

    name: str
    type: Literal["parallel_run"]
    parallel_run_config: ParallelRunConfigModel
    source_directory: str | None = None
    inputs: list[str] = Field(min_length=1)
    side_inputs: list[str] = []
    output: str | OutputModel | None = None
    arguments: list[ArgumentValue] = []
    compute: str | None = Field(default=None, validation_alias=AliasChoices("compute", "compute_target"))
    allow_reuse: bool = True
    run_after: list[str] = []
    hash_paths: list[str] = []
    version: str | None = None
    environment: str | EnvironmentModel | None = None
    queue: str | None = None
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = Field(
        default=None, validation_alias=AliasChoices("retry_delay_seconds", "retry_delay")
    )


_STEP_TYPES = ("execute_python_script", "data_transfer", "command", "parallel_run")


WeekDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class RecurrenceModel(_Strict):
    """``schedule`` as a mapping: Azure ML SDK v1's ``ScheduleRecurrence`` (rules in ``recurrence.py``).

    The shape and the names are checked here (so editors complete them); the rules (which field goes with
    which frequency, the zone, the ranges) are :mod:`~airflow_mlpipelines.pipeline.recurrence`'s, shared
    with Python definitions. ``FREQUENCIES``/``WEEK_DAYS`` there are these literals."""

    frequency: Literal["Minute", "Hour", "Day", "Week", "Month"]
    interval: PositiveInt
    start_time: datetime.datetime | str | None = None
    time_zone: str | None = None
    hours: list[int] | None = None
    minutes: list[int] | None = None
    week_days: list[WeekDay] | None = None
    time_of_day: str | int | None = Field(default=None, json_schema_extra={"pattern": r"^\d{1,2}:\d{2}$"})
    """An int is accepted here only so that the rules can say "quote it" (YAML reads 16:30 as 990)."""


def _schedule_form(value: Any) -> str:
    """Route a ``schedule`` value to its model by its shape, so a mistake is reported against the form
    that was meant: ``assets:`` → assets, ``datastore:``/``path_on_datastore:`` → a datastore watch,
    any other mapping → a recurrence, anything else → a cron string or preset. (Tags are never keys of
    the mapping: the loader drops them from error paths.)"""
    if isinstance(value, dict):
        if "assets" in value:
            return "AssetScheduleModel"
        if "datastore" in value or "path_on_datastore" in value:
            return "DatastoreWatchModel"
        return "recurrence"
    if isinstance(value, AssetScheduleModel | DatastoreWatchModel):
        return type(value).__name__
    return "recurrence" if isinstance(value, RecurrenceModel) else "cron"


ScheduleModel = Annotated[
    Annotated[str, Tag("cron")]
    | Annotated[RecurrenceModel, Tag("recurrence")]
    | Annotated[AssetScheduleModel, Tag("AssetScheduleModel")]
    | Annotated[DatastoreWatchModel, Tag("DatastoreWatchModel")],
    Discriminator(_schedule_form),
]
"""A cron expression or preset, a recurrence mapping, ``{assets: [...]}`` or ``{datastore: ...}``."""


def _step_type(value: Any) -> str:
    """Route a step mapping to its model by ``type`` (absent: a PythonScriptStep)."""
    if isinstance(value, dict) and value.get("type") in _STEP_TYPES:
        return str(value["type"])
    return "python_script"


AnyStepModel = Annotated[
    Annotated[StepModel, Tag("python_script")]
    | Annotated[ExecutePythonScriptStepModel, Tag("execute_python_script")]
    | Annotated[DataTransferStepModel, Tag("data_transfer")]
    | Annotated[CommandStepModel, Tag("command")]
    | Annotated[ParallelRunStepModel, Tag("parallel_run")],
    Discriminator(_step_type),
]


class DefaultsModel(_Strict):
    """``defaults``: values every step inherits unless it sets its own."""

    source_directory: str | None = None
    compute: str = LOCAL_COMPUTE
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = Field(
        default=None, validation_alias=AliasChoices("retry_delay_seconds", "retry_delay")
    )


class PipelineModel(_Strict):
    """The whole YAML document."""

    name: str | None = None
    description: str | None = None
    schedule: ScheduleModel | None = None
    tags: list[str] = []
    parameters: dict[str, ParameterModel | Scalar | None] = {}
    datastores: dict[str, DatastoreModel] = {}
    datasets: dict[str, DatasetModel] = {}
    models: dict[str, ModelInputModel | str] = {}
    defaults: DefaultsModel = DefaultsModel()
    steps: list[AnyStepModel]
    default_args: DefaultArgsModel = DefaultArgsModel()
    max_active_runs: PositiveInt | None = None
    catchup: bool = False
    doc_md: str | None = None
    compute_targets: dict[str, ComputeTargetModel] = {}
    environments: dict[str, EnvironmentModel] = {}


KEYS_BY_SECTION: dict[str, list[str]] = {
    "": list(PipelineModel.model_fields),
    "steps": list(
        dict.fromkeys(
            [
                *StepModel.model_fields,
                "script_name",
                "compute_target",
                *ExecutePythonScriptStepModel.model_fields,
                *DataTransferStepModel.model_fields,
                *CommandStepModel.model_fields,
                *ParallelRunStepModel.model_fields,
                "source_data_reference",
                "destination_data_reference",
            ]
        )
    ),
    "parameters": list(ParameterModel.model_fields),
    "schedule": list(dict.fromkeys([*RecurrenceModel.model_fields, *ASSET_SCHEDULE_KEYS])),
    "source": list(TransferEndpointModel.model_fields),
    "destination": list(TransferEndpointModel.model_fields),
    "datastores": list(DatastoreModel.model_fields),
    "datasets": list(DatasetModel.model_fields),
    "models": list(ModelInputModel.model_fields),
    "defaults": list(DefaultsModel.model_fields),
    "default_args": list(DefaultArgsModel.model_fields),
    "on_failure_notifiers": ["class", "args"],
    "outputs": list(dict.fromkeys([*OutputModel.model_fields, *EpsOutputsModel.model_fields])),
    **COMPUTE_KEYS_BY_SECTION,
}
"""Known keys per section, for did-you-mean hints on misspelt keys."""
