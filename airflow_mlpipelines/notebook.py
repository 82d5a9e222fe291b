"""The notebook side of SDK v1's data objects: the dataset registry, datastore uploads and downloads, and
reading a dataset outside a pipeline — all through the storage layer, with the datastore root and the
connections resolved from Airflow's settings when the call is made.

The SDK classes (``pipeline/sdk.py``) stay pure, so a DAG processor parsing a definition never imports
Airflow through them; their notebook methods (``Dataset.register``, ``Dataset.get_by_name``,
``to_pandas_dataframe``, ``Datastore.upload``...) import this module by name when they are called.

**The registry** keeps *definitions*, never copies: ``<datastore_root>/_datasets/<name>/<version>.json``
holds the dataset's kind, its ``(datastore, url, path)`` targets, a description, tags, an id and the time.
Versions are 1, 2, 3...; a new version is created with a conditional write (hard link locally,
``If-None-Match`` on S3), so two notebooks registering at once get two versions, never one overwritten.
Registering the same definition again returns the registered version (re-running a notebook is
harmless); a different definition under a taken name needs ``create_new_version=True``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import settings
from airflow_mlpipelines import storage as st
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.exceptions import DatasetRegistryError
from airflow_mlpipelines.paths import datastore_url, join
from airflow_mlpipelines.runtime.dataset_registry import REGISTRY, Registry

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_mlpipelines.storage import Storage

Target = tuple[str, str | None, str]
"""One path of a dataset: ``(datastore name, datastore URL or None for <root>/<name>, path on it)``."""


def storage() -> Storage:
    """The storage a notebook uses: Airflow's connections and secrets backends."""
    return AirflowStorage()


def target_url(target: Target) -> str:
    """The URL of one dataset path (a web file's is itself)."""
    store, url, path = target
    if "://" in path or os.path.isabs(path):  # a web file, or a step output registered with its URL
        return path
    base = datastore_url(store, {store: url}, settings.datastore_root())
    return join(base, path)


# -- the registry ---------------------------------------------------------------------------------------


def registry() -> Registry:
    """The registry under this deployment's datastore root."""
    return Registry(storage(), join(settings.datastore_root(), REGISTRY))


def get(name: str, version: int | str = "latest") -> dict[str, Any]:
    """The record of ``name`` at ``version`` (``'latest'``: the highest)."""
    return registry().get(name, version)


def get_by_id(dataset_id: str) -> dict[str, Any]:
    """The record whose ``id`` is ``dataset_id``."""
    return registry().get_by_id(dataset_id)


def register(
    name: str,
    definition: dict[str, Any],
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    create_new_version: bool = False,
) -> dict[str, Any]:
    """Register ``definition`` as ``name`` (``runtime.dataset_registry.Registry.register``)."""
    return registry().register(
        name, definition, description=description, tags=tags, create_new_version=create_new_version
    )


# -- reading and copying --------------------------------------------------------------------------------


def _local(url: str, work: str, say: Callable[[str], None] | None) -> str:
    """A local path holding ``url``'s file or folder (downloaded into ``work`` when remote)."""
    loc = storage().resolve(url)
    if loc.local:
        if not os.path.exists(loc.path):
            raise DatasetRegistryError(f"{loc.path} does not exist")
        return loc.path
    if not st.exists(loc):
        raise DatasetRegistryError(f"{loc.where()} does not exist")
    dest = os.path.join(work, str(len(os.listdir(work))))
    if not loc.fs.isdir(loc.path):
        dest = os.path.join(dest, loc.path.rstrip("/").rsplit("/", 1)[-1])
    return st.download(loc, dest, say)


def to_pandas_dataframe(targets: Sequence[Target], partition_format: str | None = None) -> Any:
    """A tabular dataset's rows (CSV/Parquet files, folders concatenated in name order)."""
    import pandas as pd

    from airflow_mlpipelines.frames.tables import read_table

    frames = []
    with tempfile.TemporaryDirectory(prefix="mlp-dataset-") as work:
        for target in targets:
            frames.append(read_table(_local(target_url(target), work, None), partition_format))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_sql(conn_id: str, query: str) -> Any:
    """A SQL query dataset's rows in a notebook: the query through the data transfers' read path
    (ADBC for PostgreSQL, the hook's DB-API connection otherwise), as a DataFrame."""
    from airflow_mlpipelines.databases import SqlDatabase

    database = SqlDatabase(conn_id)
    try:
        statement = database.source_query(table=None, query=query, procedure=None)
        reader, closing = database.read(statement, 65_536)
        try:
            return reader.read_all().to_pandas()
        finally:
            closing.close()
    finally:
        database.close()


def download(targets: Sequence[Target], target_path: str, overwrite: bool = False) -> list[str]:
    """Copy a dataset's files under ``target_path``; returns the local files. An existing file is an
    error unless ``overwrite`` (nothing local is replaced silently)."""
    written: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mlp-dataset-") as work:
        for target in targets:
            local = _local(target_url(target), work, None)
            files = (
                [(os.path.basename(local), local)]
                if os.path.isfile(local)
                else [
                    (os.path.relpath(os.path.join(d, f), local), os.path.join(d, f))
                    for d, _, names in sorted(os.walk(local))
                    for f in sorted(names)
                ]
            )
            for rel, src in files:
                dest = os.path.join(target_path, rel)
                if os.path.exists(dest) and not overwrite:
                    raise DatasetRegistryError(f"{dest} exists (pass overwrite=True to replace it)")
                os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
                shutil.copyfile(src, dest)
                written.append(dest)
    return written


def to_path(targets: Sequence[Target]) -> list[str]:
    """SDK v1's ``FileDataset.to_path()``: each file's path relative to the dataset, with a leading ``/``."""
    paths: list[str] = []
    for target in targets:
        loc = storage().resolve(target_url(target))
        for rel, item in st.files_below(loc):
            paths.append("/" + (rel or item.path.rstrip("/").rsplit("/", 1)[-1]))
    return paths


# -- datastore uploads and downloads ------------------------------------------------------------------


def upload_files(
    datastore: Target,
    files: Sequence[str],
    target_path: str | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> list[str]:
    """Copy local files into ``target_path`` on a datastore (each keeps its name); an existing file is
    skipped unless ``overwrite``. Returns the URLs written."""
    store, url, _ = datastore
    base = target_url((store, url, target_path or ""))
    written: list[str] = []
    for path in files:
        if not os.path.isfile(path):
            raise DatasetRegistryError(f"upload_files: {path} is not a file")
        dest = join(base, os.path.basename(path))
        if _put(path, dest, overwrite, show_progress):
            written.append(dest)
    return written


def upload(
    datastore: Target,
    src_dir: str,
    target_path: str | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> list[str]:
    """Copy a local folder's files below ``target_path`` on a datastore (same rule for existing files)."""
    if not os.path.isdir(src_dir):
        raise DatasetRegistryError(f"upload: {src_dir} is not a folder")
    store, url, _ = datastore
    base = target_url((store, url, target_path or ""))
    written: list[str] = []
    for dirpath, dirnames, names in os.walk(src_dir):
        dirnames.sort()
        for name in sorted(names):
            full = os.path.join(dirpath, name)
            dest = join(base, os.path.relpath(full, src_dir).replace(os.sep, "/"))
            if _put(full, dest, overwrite, show_progress):
                written.append(dest)
    return written


def _put(src: str, url: str, overwrite: bool, show_progress: bool) -> bool:
    loc = storage().resolve(url)
    if not overwrite and st.exists(loc):
        if show_progress:
            print(f"skipped {url}: it exists (overwrite=False)")  # noqa: T201 - SDK v1 prints progress
        return False
    if loc.local:
        os.makedirs(os.path.dirname(loc.path), exist_ok=True)
        shutil.copyfile(src, loc.path)
    else:
        st.upload(src, loc)
    if show_progress:
        print(f"uploaded {src} to {url}")  # noqa: T201
    return True


def download_datastore(
    datastore: Target, target_path: str, prefix: str | None = None, overwrite: bool = False
) -> int:
    """SDK v1's ``Datastore.download``: the files below ``prefix`` into ``target_path`` (their paths
    kept); returns how many were copied."""
    store, url, _ = datastore
    return len(download([(store, url, prefix or "")], os.path.join(target_path, prefix or ""), overwrite))
