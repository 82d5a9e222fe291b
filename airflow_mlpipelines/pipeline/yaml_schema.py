"""The YAML definition format as pydantic models: the single source of truth for its keys and types."""

from __future__ import annotations

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
    """``datastores.<name>``: a URL (or a path relative to the definition file)."""

    url: str


class DatasetModel(_Strict):
    """``datasets.<name>``: files or folders on a datastore."""

    datastore: str = DEFAULT_DATASTORE
    path: str | None = None
    paths: list[str] | None = None
    mode: Literal["direct", "mount", "download"] = "direct"
    kind: Literal["file", "tabular"] = "file"


class OutputModel(_Strict):
    """``steps[].outputs[]`` in long form."""

    name: str
    datastore: str = DEFAULT_DATASTORE


ArgumentValue = Scalar | dict[str, str]


class StepModel(_Strict):
    """``steps[]``: one PythonScriptStep."""

    name: str
    type: Literal["python_script", "execute_python_script"] = "python_script"
    script: str = Field(validation_alias=AliasChoices("script", "script_name"))
    source_directory: str | None = None
    arguments: list[ArgumentValue] = []
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
    retry_delay_seconds: PositiveFloat | None = None


class EpsOutputsModel(_Strict):
    """``steps[].outputs`` of an Execute Python Script step: names of its two output ports."""

    dataframe: str | None = None
    visualizations: str | None = None


class ExecutePythonScriptStepModel(_Strict):
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
    retry_delay_seconds: PositiveFloat | None = None
    time_limit_seconds: PositiveFloat | None = None
    memory_limit_mb: PositiveInt | None = None


def _step_type(value: Any) -> str:
    """Route a step mapping to its model by ``type`` (absent: a PythonScriptStep)."""
    if isinstance(value, dict) and value.get("type") == "execute_python_script":
        return "execute_python_script"
    return "python_script"


AnyStepModel = Annotated[
    Annotated[StepModel, Tag("python_script")]
    | Annotated[ExecutePythonScriptStepModel, Tag("execute_python_script")],
    Discriminator(_step_type),
]


class DefaultsModel(_Strict):
    """``defaults``: values every step inherits unless it sets its own."""

    source_directory: str | None = None
    compute: str = LOCAL_COMPUTE
    retries: NonNegativeInt | None = None
    retry_delay_seconds: PositiveFloat | None = None


class PipelineModel(_Strict):
    """The whole YAML document."""

    name: str | None = None
    description: str | None = None
    schedule: str | None = None
    tags: list[str] = []
    parameters: dict[str, ParameterModel | Scalar | None] = {}
    datastores: dict[str, DatastoreModel] = {}
    datasets: dict[str, DatasetModel] = {}
    defaults: DefaultsModel = DefaultsModel()
    steps: list[AnyStepModel]
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
            ]
        )
    ),
    "parameters": list(ParameterModel.model_fields),
    "datastores": list(DatastoreModel.model_fields),
    "datasets": list(DatasetModel.model_fields),
    "defaults": list(DefaultsModel.model_fields),
    "outputs": list(dict.fromkeys([*OutputModel.model_fields, *EpsOutputsModel.model_fields])),
    **COMPUTE_KEYS_BY_SECTION,
}
"""Known keys per section, for did-you-mean hints on misspelt keys."""
