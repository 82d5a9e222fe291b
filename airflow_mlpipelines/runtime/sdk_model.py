"""SDK v1's ``azureml.core.Model`` over the datastore's model registry (:mod:`runtime.models`).

``Model.register(ws, model_path, model_name, tags=...)`` from a notebook, ``Model(ws, name, version=...)``,
``Model.list(ws, ...)``, ``model.download(...)``, and ``Model.get_model_path(name)`` in a scoring
script. Which registry: the one the runner handed the step (``$MLP_MODEL_REGISTRY``, storage from
``$MLP_STORAGE_CONNECTIONS``), else the default of the Airflow installation (``[mlpipelines]
model_registry`` through Airflow's connections; :mod:`airflow_mlpipelines.core` installs that lookup).

In a pipeline *definition*, ``Model(ws, name, version)`` reads nothing (definitions are parsed often and
without I/O): it is a reference a step lists in ``inputs``/``arguments``, resolved when the step runs.
Pure (no Airflow): it imports in any step image.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ModelError, SourceLocation
from airflow_mlpipelines.pipeline.callsite import defining
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, DatasetSpec
from airflow_mlpipelines.runtime.models import REGISTRY_ENV, ModelRegistry, ModelVersion, check_name
from airflow_mlpipelines.storage import FsspecStorage

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

_fallback: Callable[[], ModelRegistry] | None = None
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_location() -> SourceLocation:
    """File:line of the user's code that built the model reference (errors about the input point there)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame = frame.f_back  # type: ignore[assignment]
    return (
        SourceLocation("<unknown>")
        if frame is None
        else SourceLocation(frame.f_code.co_filename, frame.f_lineno)
    )


def set_default_registry(factory: Callable[[], ModelRegistry] | None) -> None:
    """The registry used outside a step (a notebook): installed by ``airflow_mlpipelines.core``."""
    global _fallback
    _fallback = factory


def registry_for(workspace: Any = None) -> ModelRegistry:
    """The registry of ``workspace``: one attached to it (``ws._model_registry``), else the step's
    (``$MLP_MODEL_REGISTRY``), else the installation's default."""
    attached = getattr(workspace, "_model_registry", None)
    if isinstance(attached, ModelRegistry):
        return attached
    url = os.environ.get(REGISTRY_ENV)
    if url:
        return ModelRegistry(FsspecStorage.from_environment(), url)
    if _fallback is not None:
        return _fallback()
    raise ModelError(
        f"no model registry: outside a pipeline step set ${REGISTRY_ENV} to its URL, or import "
        "airflow_mlpipelines.core on a machine with Airflow configured ([mlpipelines] model_registry)"
    )


def _split_id(model_id: str) -> tuple[str, int]:
    name, sep, version = str(model_id).rpartition(":")
    if not sep or not version.isdigit():
        raise ModelError(f"a model id is 'name:version', got {model_id!r}")
    return name, int(version)


class Model:
    """A registered model version (SDK v1's ``Model``); see the module docstring."""

    def __init__(
        self,
        workspace: Any = None,
        name: str | None = None,
        id: str | None = None,
        tags: Sequence[Any] | Mapping[str, Any] | None = None,
        properties: Sequence[Any] | Mapping[str, Any] | None = None,
        version: int | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **_kwargs: Any,
    ) -> None:
        if id is not None:
            name, version = _split_id(id)
        if not name:
            raise ModelError("Model(workspace, name=...) or Model(workspace, id='name:version') is needed")
        self.workspace = workspace
        self.name = check_name(name)
        self._version = None if version is None else int(version)
        self._filters = (tags, properties)
        self._record: ModelVersion | None = None
        self._registry: ModelRegistry | None = None
        self._input_name: str | None = None
        self._location: SourceLocation | None = _user_location()
        if not defining():  # a notebook or a script: look it up now, as SDK v1 does
            self._load()

    @classmethod
    def _of(cls, record: ModelVersion, registry: ModelRegistry, workspace: Any = None) -> Model:
        model = cls.__new__(cls)
        model.workspace = workspace
        model.name = record.name
        model._version = record.version
        model._filters = (None, None)
        model._record = record
        model._registry = registry
        model._input_name = None
        model._location = None
        return model

    def _load(self) -> ModelVersion:
        if self._record is None:
            self._registry = registry_for(self.workspace)
            tags, properties = self._filters
            self._record = self._registry.get(self.name, self._version, tags=tags, properties=properties)
        return self._record

    # -- SDK v1's attributes ------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The version number (the latest when none was asked for)."""
        return self._load().version

    @property
    def id(self) -> str:
        """``name:version``."""
        return self._load().id

    @property
    def tags(self) -> dict[str, str]:
        """The version's tags."""
        return dict(self._load().tags)

    @property
    def properties(self) -> dict[str, str]:
        """The version's properties."""
        return dict(self._load().properties)

    @property
    def description(self) -> str | None:
        """The version's description."""
        return self._load().description

    @property
    def created_time(self) -> str:
        """When the version was registered (ISO 8601, UTC)."""
        return self._load().created_time

    @property
    def url(self) -> str:
        """Where the version's file or folder is stored."""
        return self._load().model_url

    @property
    def model_framework(self) -> str | None:
        """The framework given at registration."""
        return self._load().framework

    @property
    def model_framework_version(self) -> str | None:
        """The framework version given at registration."""
        return self._load().framework_version

    @property
    def run_id(self) -> str | None:
        """The id of the step run that registered it (None from a notebook)."""
        run = self._load().run
        return None if run is None else str(run.get("id"))

    @property
    def digest(self) -> str:
        """The digest of the version's files (what a consuming step's fingerprint holds)."""
        return self._load().digest

    def __repr__(self) -> str:
        if self._record is None:
            version = "latest" if self._version is None else self._version
            return f"Model(name={self.name!r}, version={version})"
        return f"Model(name={self.name!r}, version={self._record.version}, id={self._record.id!r})"

    def serialize(self) -> dict[str, Any]:
        """The version's record as JSON."""
        return {**self._load().to_json(), "id": self.id, "url": self.url}

    # -- registering and finding ------------------------------------------------------------------
    @classmethod
    def register(
        cls,
        workspace: Any,
        model_path: str,
        model_name: str,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        description: str | None = None,
        datasets: Any = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: Sequence[str] | None = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
        **_kwargs: Any,
    ) -> Model:
        """Register the local file or folder ``model_path`` as the next version of ``model_name``."""
        registry = registry_for(workspace)
        record = registry.register(
            model_name,
            model_path,
            tags=tags,
            properties=properties,
            description=description,
            framework=model_framework,
            framework_version=model_framework_version,
            child_paths=child_paths,
        )
        return cls._of(record, registry, workspace)

    @classmethod
    def list(
        cls,
        workspace: Any,
        name: str | None = None,
        tags: Sequence[Any] | Mapping[str, Any] | None = None,
        properties: Sequence[Any] | Mapping[str, Any] | None = None,
        run_id: str | None = None,
        latest: bool = False,
        **_kwargs: Any,
    ) -> list[Model]:
        """Registered versions (newest first per name), filtered as SDK v1 filters them."""
        registry = registry_for(workspace)
        found = registry.list(name, tags=tags, properties=properties, latest=latest)
        if run_id is not None:
            found = [m for m in found if m.run is not None and m.run.get("id") == run_id]
        return [cls._of(m, registry, workspace) for m in found]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """A local path to the registered file or folder (downloaded to a cache when the registry is
        remote): what a scoring or batch-inference script loads."""
        registry = registry_for(_workspace)
        return registry.local_path(registry.get(model_name, version))

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok: bool | None = None) -> str:
        """Copy the version's file or folder into ``target_dir`` (checked by SHA-256); returns its path."""
        record = self._load()
        assert self._registry is not None  # noqa: S101 - _load sets it
        return self._registry.download(record, target_dir, exist_ok if exists_ok is None else exists_ok)

    def get_sas_urls(self) -> dict[str, str]:
        """Where each file is stored (no SAS tokens here: the storage layer's URLs)."""
        record = self._load()
        return {str(f["path"]): f"{record.url}/files/{f['path']}" for f in record.files}

    # -- as a step's input --------------------------------------------------------------------------
    def as_named_input(self, name: str) -> Model:
        """This model as a step input called ``name`` (default: the model's name)."""
        copy = Model.__new__(Model)
        copy.__dict__.update(self.__dict__)
        copy._input_name = name
        return copy

    def _as_model_input(self) -> DatasetSpec:
        """The step input this model is (a pipeline's ``inputs``/``arguments``): the version asked for,
        None for the latest at run time."""
        name = self._input_name or self.name.replace(".", "_")
        return DatasetSpec(
            name=name,
            datastore=DEFAULT_DATASTORE,
            paths=(),
            kind="model",
            model=self.name,
            model_version=self._version,
            location=self._location,
        )
