"""Azure ML SDK v1 names (``PythonScriptStep``, ``PipelineData``, ...) that build the pure pipeline model.

Code written for ``azureml.pipeline.core``/``azureml.pipeline.steps`` runs with only its imports
changed: these classes accept the same constructor arguments and compile to a
:class:`~airflow_mlpipelines.pipeline.model.PipelineSpec` through :meth:`Pipeline.to_spec`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning, SourceLocation
from airflow_mlpipelines.pipeline.callsite import caller_location
from airflow_mlpipelines.pipeline.compute import EnvironmentSpec
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    LOCAL_COMPUTE,
    DatastoreSpec,
    OutputSpec,
    ParameterSpec,
    infer_param_type,
)
from airflow_mlpipelines.pipeline.sdk_compute import ComputeTarget, DockerConfiguration
from airflow_mlpipelines.pipeline.sdk_schedule import ScheduleRecurrence, TimeZone

if TYPE_CHECKING:
    from collections.abc import Sequence

_caller_location = caller_location
"""Kept under its old name for the SDK modules that import it from here."""


def _no_effect_yet(what: str, step: str, why: str) -> None:
    warnings.warn(f"step '{step}': {what} is recorded but {why}", MLPipelinesWarning, stacklevel=4)


class Workspace:
    """Stand-in for ``azureml.core.Workspace``: pipelines here need no workspace, so it only names one."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str = "local",
        *,
        airflow: dict[str, Any] | None = None,
        **_kwargs: Any,
    ) -> None:
        self.name = workspace_name
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.airflow = dict(airflow or {})
        """Where a notebook submits pipelines: ``api_url`` and the names of credential variables."""
        self.compute_targets: dict[str, Any] = {}
        """Targets made with ``ComputeTarget.create(ws, name, ...)`` (SDK v1's ``ws.compute_targets``)."""
        self.datastores: dict[str, Datastore] = {}
        self.location = "local"

    @classmethod
    def get(
        cls, name: str, subscription_id: str | None = None, resource_group: str | None = None, **_kwargs: Any
    ) -> Workspace:
        """SDK v1's ``Workspace.get(name, ...)``: a workspace of that name (nothing to look up)."""
        return cls(subscription_id, resource_group, name)

    @classmethod
    def from_config(cls, path: str | None = None, **_kwargs: Any) -> Workspace:
        """SDK v1's config.json (``path``, else ``./config.json`` or ``./.azureml/config.json``), when there
        is one: ``workspace_name`` and an ``airflow`` section (``api_url``, ``token_env``,
        ``username_env``, ``password_env``) for ``Experiment.submit``. Without a file: a local workspace."""
        import json
        import os

        candidates = [path] if path else ["config.json", os.path.join(".azureml", "config.json")]
        for candidate in candidates:
            if candidate and os.path.isdir(candidate):
                candidate = os.path.join(candidate, "config.json")
            if candidate and os.path.isfile(candidate):
                try:
                    with open(candidate, encoding="utf-8") as fh:
                        data = json.load(fh)
                except ValueError as exc:
                    raise DefinitionError(
                        f"{candidate} is not JSON: {exc}", location=SourceLocation(candidate)
                    ) from None
                return cls(
                    data.get("subscription_id"),
                    data.get("resource_group"),
                    data.get("workspace_name", "local"),
                    airflow=data.get("airflow"),
                )
        if path:
            raise DefinitionError(f"workspace config {path} does not exist", location=SourceLocation(path))
        return cls()

    def get_default_datastore(self) -> Datastore:
        """The default datastore, which maps to ``[mlpipelines] datastore_root``."""
        return Datastore(self, DEFAULT_DATASTORE)


class Datastore:
    """A named storage location; without ``url`` it lives at ``<datastore_root>/<name>``.

    ``connection`` makes it a SQL datastore: the Airflow connection id of a database, which data
    transfer steps read and write (``register_azure_sql_database`` / ``register_azure_postgre_sql`` /
    ``register_azure_my_sql`` return one whose connection id is the datastore's name).
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        name: str = DEFAULT_DATASTORE,
        *,
        url: str | None = None,
        connection: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.name = name
        self.url = url
        self.connection = connection

    @classmethod
    def _sql(cls, workspace: Workspace | None, datastore_name: str, connection: str | None) -> Datastore:
        # Server names, users and passwords belong in the Airflow connection (or a secrets backend), not
        # in pipeline code: the arguments are accepted and the connection id is the datastore's name.
        return cls(workspace, datastore_name, connection=connection or datastore_name)

    @classmethod
    def register_azure_sql_database(
        cls, workspace: Workspace | None, datastore_name: str, *_args: Any, connection: str | None = None,
        **_kwargs: Any,
    ) -> Datastore:  # fmt: skip
        """A SQL datastore whose database is the Airflow connection ``datastore_name`` (or ``connection``)."""
        return cls._sql(workspace, datastore_name, connection)

    @classmethod
    def register_azure_postgre_sql(
        cls, workspace: Workspace | None, datastore_name: str, *_args: Any, connection: str | None = None,
        **_kwargs: Any,
    ) -> Datastore:  # fmt: skip
        """A PostgreSQL datastore: the Airflow connection ``datastore_name`` (or ``connection``)."""
        return cls._sql(workspace, datastore_name, connection)

    @classmethod
    def register_azure_my_sql(
        cls, workspace: Workspace | None, datastore_name: str, *_args: Any, connection: str | None = None,
        **_kwargs: Any,
    ) -> Datastore:  # fmt: skip
        """A MySQL datastore: the Airflow connection ``datastore_name`` (or ``connection``)."""
        return cls._sql(workspace, datastore_name, connection)

    @classmethod
    def get(cls, workspace: Workspace | None, datastore_name: str) -> Datastore:
        """Azure ML's ``Datastore.get``."""
        return cls(workspace, datastore_name)

    @classmethod
    def get_default(cls, workspace: Workspace | None = None) -> Datastore:
        """Azure ML's ``Datastore.get_default``."""
        return cls(workspace, DEFAULT_DATASTORE)

    def spec(self) -> DatastoreSpec:
        """The model of this datastore."""
        return DatastoreSpec(self.name, self.url, self.connection)


class _Dataset:
    """A ``FileDataset``/``TabularDataset``: files on a datastore."""

    def __init__(self, kind: str, path: object, partition_format: str | None = None) -> None:
        self.kind = kind
        self.location = _caller_location()
        self.targets = _dataset_targets(path, self.location)
        self.name: str | None = None
        self.partition_format = partition_format

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """Consume this dataset under ``name`` (the name used in ``Run.input_datasets``)."""
        return DatasetConsumptionConfig(name, self)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Consume this dataset as a local copy."""
        return DatasetConsumptionConfig(None, self, mode="download")

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Consume this dataset in place where possible (local datastores), else as a copy."""
        return DatasetConsumptionConfig(None, self, mode="mount")


def _dataset_targets(path: object, location: SourceLocation) -> list[tuple[Datastore, str]]:
    items = path if isinstance(path, list) else [path]
    targets: list[tuple[Datastore, str]] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            targets.append((item[0], str(item[1])))
        elif isinstance(item, str) and "://" not in item:
            targets.append((Datastore(None, DEFAULT_DATASTORE), item))
        else:
            raise DefinitionError(
                f"unsupported dataset path {item!r}",
                location=location,
                field="path",
                hint="pass (Datastore, 'relative/path') tuples, or a path on the default datastore",
            )
    return targets


class _FileFactory:
    @staticmethod
    def from_files(path: object, validate: bool = True, partition_format: str | None = None) -> _Dataset:
        """Azure ML's ``Dataset.File.from_files``."""
        return _Dataset("file", path, partition_format)


class _TabularFactory:
    @staticmethod
    def from_delimited_files(path: object, partition_format: str | None = None, **_kwargs: Any) -> _Dataset:
        """Azure ML's ``Dataset.Tabular.from_delimited_files``."""
        return _Dataset("tabular", path, partition_format)

    @staticmethod
    def from_parquet_files(path: object, partition_format: str | None = None, **_kwargs: Any) -> _Dataset:
        """Azure ML's ``Dataset.Tabular.from_parquet_files``."""
        return _Dataset("tabular", path, partition_format)


class Dataset:
    """Azure ML's ``Dataset`` factory namespace: ``Dataset.File`` and ``Dataset.Tabular``."""

    File = _FileFactory
    Tabular = _TabularFactory


class DatasetConsumptionConfig:
    """A dataset bound to a step under an input name, with an access mode."""

    def __init__(self, name: str | None, dataset: _Dataset, mode: str = "direct") -> None:
        self.name = name
        self.dataset = dataset
        self.mode = mode

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Consume as a local copy."""
        return DatasetConsumptionConfig(self.name, self.dataset, mode="download")

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """Consume in place where possible."""
        return DatasetConsumptionConfig(self.name, self.dataset, mode="mount")


class PipelineParameter:
    """A run-time parameter with a default; rendered as an Airflow ``Param`` set by the run's ``conf``."""

    def __init__(self, name: str, default_value: Any) -> None:
        self.name = name
        self.default_value = default_value

    def spec(self) -> ParameterSpec:
        """The model of this parameter; its type is inferred from the default value."""
        return ParameterSpec(self.name, self.default_value, type=infer_param_type(self.default_value))


class PipelineData:
    """Intermediate data: a directory one step writes and later steps read, which orders them."""

    def __init__(
        self,
        name: str,
        datastore: Datastore | None = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        self.name = name
        self.datastore = datastore
        self.output_name = output_name or name

    def as_input(self, input_name: str | None = None) -> PipelineDataInput:
        """Consume this data in a later step."""
        return PipelineDataInput(self)

    def as_download(self, input_name: str | None = None, **_kwargs: Any) -> PipelineDataInput:
        """Consume as a local copy."""
        return PipelineDataInput(self)

    def as_mount(self, input_name: str | None = None, **_kwargs: Any) -> PipelineDataInput:
        """Consume in place where possible."""
        return PipelineDataInput(self)

    def spec(self) -> OutputSpec:
        """The model of this output."""
        return OutputSpec(self.name, self.datastore.name if self.datastore else DEFAULT_DATASTORE)


class PipelineDataInput:
    """A ``PipelineData`` consumed by a step (what ``as_input()`` returns)."""

    def __init__(self, data: PipelineData) -> None:
        self.data = data


class PythonSection:
    """``RunConfiguration.environment.python``."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.conda_dependencies: Any = None
        self.interpreter_path = "python"


class DockerSection:
    """``RunConfiguration.environment.docker``."""

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = None
        self.base_dockerfile: str | None = None


class Environment:
    """Azure ML's ``Environment``: a name, Python dependencies and an optional Docker image.

    ``docker.base_image`` is the image container steps run in; the pip and conda packages are baked into
    it (``mlpipelines dockerfile`` writes the build context); all of it is a fingerprint component.
    """

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}

    @classmethod
    def get(cls, workspace: Any = None, name: str = "default", version: str | None = None) -> Environment:
        """Azure ML's curated/registered environment by name: set ``docker.base_image`` to its image."""
        return cls(name)

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str) -> Environment:
        """An environment whose pip packages are the lines of a requirements file."""
        env = cls(name)
        with open(file_path, encoding="utf-8") as fh:
            packages = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
        env.python.conda_dependencies = CondaDependencies(pip_packages=packages)
        return env

    def spec(self, name: str) -> EnvironmentSpec:
        """The pure model of this environment, declared under ``name``."""
        deps = self.python.conda_dependencies
        return EnvironmentSpec(
            name=name,
            image=self.docker.base_image,
            pip=tuple(getattr(deps, "pip_packages", ()) or ()),
            conda=tuple(getattr(deps, "conda_packages", ()) or ()),
            env=tuple(sorted((str(k), str(v)) for k, v in self.environment_variables.items())),
        )

    def is_default(self) -> bool:
        """True when nothing was set (a plain ``RunConfiguration()``): the step keeps no environment."""
        return self.spec(self.name) == EnvironmentSpec(self.name) and self.name == "default"


class CondaDependencies:
    """Azure ML's ``CondaDependencies.create(pip_packages=[...])``."""

    def __init__(self, pip_packages: Sequence[str] = (), conda_packages: Sequence[str] = ()) -> None:
        self.pip_packages = list(pip_packages)
        self.conda_packages = list(conda_packages)

    @classmethod
    def create(
        cls, pip_packages: Sequence[str] = (), conda_packages: Sequence[str] = (), **_kwargs: Any
    ) -> CondaDependencies:
        """Build a dependency list."""
        return cls(pip_packages, conda_packages)


class RunConfiguration:
    """Azure ML's ``RunConfiguration``: a target and an environment."""

    def __init__(
        self,
        script: str | None = None,
        arguments: Sequence[str] | None = None,
        framework: str = "Python",
        **_kwargs: Any,
    ) -> None:
        self.target: Any = None
        self.environment = Environment()
        self.docker = DockerConfiguration()


def _compute_name(target: object) -> str:
    if target is None:
        return LOCAL_COMPUTE
    if isinstance(target, str):
        return target
    return str(getattr(target, "name", target))


__all__ = [
    "ComputeTarget",
    "CondaDependencies",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "DockerConfiguration",
    "Environment",
    "PipelineData",
    "PipelineParameter",
    "RunConfiguration",
    "ScheduleRecurrence",
    "TimeZone",
    "Workspace",
]
