"""The parts of SDK v1's ``Datastore`` and datasets that reach real storage, as mixins of the classes in
``sdk.py``: Azure Storage registrations (a URL naming an Airflow connection; secrets in code are never
kept) and the notebook methods (uploads, downloads, the dataset registry, reading a dataset).

The notebook methods run only when called, in a notebook: they import ``airflow_mlpipelines.notebook``
(Airflow's settings and connections) by name then, so this pure module never imports Airflow.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Self

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning, SourceLocation
from airflow_mlpipelines.pipeline.callsite import caller_location

if TYPE_CHECKING:
    from collections.abc import Sequence

Target = tuple[str, str | None, str]
"""One path of a dataset as the notebook side takes it: (datastore name, its URL or None, path)."""


def _notebook() -> Any:
    """The notebook side (``airflow_mlpipelines.notebook``: Airflow's settings and connections), imported
    by name when a notebook method is called, so this pure module never imports Airflow."""
    import importlib

    return importlib.import_module("airflow_mlpipelines.notebook")


def _absolute(url: str | None) -> str | None:
    """A relative local datastore path made absolute (a notebook's working folder)."""
    import os

    return os.path.abspath(url) if url is not None and "://" not in url else url


def _credentials_not_stored(
    method: str,
    datastore: str,
    conn_id: str | None,
    location: SourceLocation,
    credentials: dict[str, str | None],
) -> None:
    """Secrets in pipeline code are never kept (they would land in the DAG's serialisation and docs):
    say so at the user's line, naming where they belong."""
    given = sorted(k for k, v in credentials.items() if v)
    if not given:
        return
    where = (
        f"the Airflow connection '{conn_id}' (Admin > Connections, AIRFLOW_CONN_{conn_id.upper()} or a "
        "secrets backend)"
        if conn_id
        else "the mount's own configuration on every worker"
    )
    warnings.warn_explicit(
        f"{method}('{datastore}'): {', '.join(given)} passed in code {'is' if len(given) == 1 else 'are'} "
        f"not stored; they must live in {where}",
        MLPipelinesWarning,
        location.file,
        location.line or 0,
    )


class AzureStorageRegistrations:
    """``Datastore.register_azure_blob_container`` / ``register_azure_data_lake_gen2`` /
    ``register_azure_file_share``."""

    @classmethod
    def _with_url(cls, workspace: Any, name: str, url: str) -> Self:
        raise NotImplementedError  # Datastore makes one

    # -- Azure Storage: a URL naming an Airflow connection -------------------------------------------
    @classmethod
    def register_azure_blob_container(
        cls,
        workspace: Any,
        datastore_name: str,
        container_name: str,
        account_name: str | None = None,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        blob_cache_timeout: int | None = None,
        grant_workspace_access: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        *,
        connection: str | None = None,
    ) -> Self:
        """A blob container: ``abfs://<connection>@<container_name>/``, through the Airflow connection
        ``connection`` (default: the datastore's name; a ``wasb`` connection of the Microsoft Azure
        provider holding the account and its key, SAS token or service principal). Credentials passed
        here are not stored (a warning at the caller's line says so): they belong in the connection."""
        return cls._azure(
            workspace, datastore_name, container_name, connection, "register_azure_blob_container",
            {"sas_token": sas_token, "account_key": account_key, "endpoint": endpoint, "protocol": protocol},
        )  # fmt: skip

    @classmethod
    def register_azure_data_lake_gen2(
        cls,
        workspace: Any,
        datastore_name: str,
        filesystem: str,
        account_name: str | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        resource_url: str | None = None,
        authority_url: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        grant_workspace_access: bool = False,
        *,
        connection: str | None = None,
    ) -> Self:
        """A Data Lake Gen2 filesystem: ``abfs://<connection>@<filesystem>/`` (the same ``abfs://``
        filesystem as blob containers; the connection holds the account and the service principal)."""
        return cls._azure(
            workspace, datastore_name, filesystem, connection, "register_azure_data_lake_gen2",
            {"tenant_id": tenant_id, "client_id": client_id, "client_secret": client_secret,
             "endpoint": endpoint, "protocol": protocol, "authority_url": authority_url},
        )  # fmt: skip

    @classmethod
    def register_azure_file_share(
        cls,
        workspace: Any,
        datastore_name: str,
        file_share_name: str,
        account_name: str | None = None,
        sas_token: str | None = None,
        account_key: str | None = None,
        protocol: str | None = None,
        endpoint: str | None = None,
        overwrite: bool = False,
        create_if_not_exists: bool = False,
        skip_validation: bool = False,
        *,
        mount_path: str | None = None,
    ) -> Self:
        """An Azure Files share. Airflow has no filesystem for file shares (``ObjectStoragePath`` knows
        blob and Data Lake storage), so the share must be mounted (SMB, or the Kubernetes Azure Files CSI
        driver) at ``mount_path`` on every worker and step container: the datastore is that local path.
        Without ``mount_path`` it is an error at the caller's line."""
        location = caller_location()
        if not mount_path:
            raise DefinitionError(
                f"register_azure_file_share('{datastore_name}'): Airflow has no filesystem for Azure Files "
                "shares",
                location=location,
                field="mount_path",
                hint=f"mount the share '{file_share_name}' on the workers and pass mount_path='/mnt/...', or "
                "copy its files to a blob container and use register_azure_blob_container",
            )
        _credentials_not_stored(
            "register_azure_file_share", datastore_name, None, location,
            {"sas_token": sas_token, "account_key": account_key},
        )  # fmt: skip
        return cls._with_url(workspace, datastore_name, mount_path)

    @classmethod
    def _azure(
        cls,
        workspace: Any,
        datastore_name: str,
        container: str,
        connection: str | None,
        method: str,
        credentials: dict[str, str | None],
    ) -> Self:
        location = caller_location()
        conn_id = connection or datastore_name
        if not container or "/" in container or "@" in container:
            raise DefinitionError(
                f"{method}('{datastore_name}'): container {container!r} must be one container name",
                location=location,
                field="container_name",
            )
        _credentials_not_stored(method, datastore_name, conn_id, location, credentials)
        return cls._with_url(workspace, datastore_name, f"abfs://{conn_id}@{container}/")


class DatastoreFiles:
    """A datastore's files from a notebook, through the storage layer (root and connections at call time)."""

    name: str
    url: str | None

    def _target(self, path: str = "") -> Target:
        return (self.name, _absolute(self.url), path)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> Any:
        """SDK v1's ``datastore.path('folder')``: a ``DataReference`` (a step input, a transfer's end)."""
        from airflow_mlpipelines.pipeline.sdk_transfer import DataReference

        return DataReference(self, data_reference_name, path or "")

    def upload_files(
        self,
        files: Sequence[str],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> Any:
        """Copy local files into ``target_path`` (an existing file is kept unless ``overwrite``); returns
        a ``DataReference`` to ``target_path``."""
        _notebook().upload_files(self._target(), list(files), target_path, overwrite, show_progress)
        return self.path(target_path)

    def upload(
        self,
        src_dir: str,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> Any:
        """Copy a local folder below ``target_path`` (same rule for existing files); a ``DataReference``."""
        _notebook().upload(self._target(), src_dir, target_path, overwrite, show_progress)
        return self.path(target_path)

    def download(
        self, target_path: str, prefix: str | None = None, overwrite: bool = False, show_progress: bool = True
    ) -> int:
        """Copy the files below ``prefix`` into ``target_path`` (paths kept); returns how many."""
        count: int = _notebook().download_datastore(self._target(), target_path, prefix, overwrite)
        return count


class DatasetFiles:
    """A dataset from a notebook: register it, read it, download it."""

    kind: str
    targets: list[tuple[Any, str]]
    partition_format: str | None
    location: SourceLocation

    @classmethod
    def _from_record(cls, record: dict[str, Any]) -> Self:
        raise NotImplementedError  # _Dataset makes one

    def _targets(self) -> list[Target]:
        return [store._target(path) for store, path in self.targets]

    def _definition(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "targets": [list(t) for t in self._targets()],
            "partition_format": self.partition_format,
        }

    def register(
        self,
        workspace: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> Self:
        """Register this definition as ``name`` (a new version with ``create_new_version``; the same
        definition again returns its version); returns the registered dataset."""
        record = _notebook().register(
            name,
            self._definition(),
            description=description,
            tags=tags,
            create_new_version=create_new_version,
        )
        return self._from_record(record)

    def to_pandas_dataframe(self, **_kwargs: Any) -> Any:
        """The rows of a tabular dataset, read through the storage layer (pandas, in a notebook)."""
        if self.kind != "tabular":
            raise DefinitionError(
                "to_pandas_dataframe() is for tabular datasets (Dataset.Tabular.from_*)",
                location=self.location,
                hint="download() the files of a file dataset, or build it with Dataset.Tabular",
            )
        return _notebook().to_pandas_dataframe(self._targets(), self.partition_format)

    def to_path(self) -> list[str]:
        """The dataset's files, relative to it (``/name.csv``), as SDK v1's ``FileDataset.to_path()``."""
        paths: list[str] = _notebook().to_path(self._targets())
        return paths

    def download(self, target_path: str | None = None, overwrite: bool = False, **_kwargs: Any) -> list[str]:
        """Copy the dataset's files into ``target_path`` (default: a new temporary folder); returns them."""
        import tempfile

        folder = target_path or tempfile.mkdtemp(prefix="mlp-dataset-")
        files: list[str] = _notebook().download(self._targets(), folder, overwrite)
        return files
