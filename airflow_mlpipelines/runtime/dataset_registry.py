"""The dataset registry: definitions (never copies) of datasets, by name and version, in a folder of a
store — ``<datastore_root>/_datasets/<name>/<version>.json``.

A record holds the dataset's kind, its ``(datastore, datastore URL, path)`` targets, its
``partition_format``, a description, tags, an id and the time. Versions are 1, 2, 3...; a new version is
created with a conditional write (hard link locally, ``If-None-Match`` on S3; other stores: a check
first), so concurrent registrations get distinct versions and none is overwritten. Registering the
definition of the latest version again returns that version. Pure (storage only): notebooks use it
through ``airflow_mlpipelines.notebook``, the runner for ``OutputFileDatasetConfig.register_on_complete``.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import DatasetRegistryError, NoConditionalWritesError
from airflow_mlpipelines.paths import join, safe_segment
from airflow_mlpipelines.reuse.lease import create_exclusive

if TYPE_CHECKING:
    from airflow_mlpipelines.storage import Location, Storage

REGISTRY = "_datasets"
"""The registry's folder under the datastore root (beside ``_manifests``)."""


def _definition(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("kind", "targets", "partition_format")}


class Registry:
    """The registry at ``root`` (a URL or path), read and written through ``storage``."""

    def __init__(self, storage: Storage, root: str) -> None:
        self.storage = storage
        self.root = root

    def _folder(self, name: str) -> Location:
        if not name or safe_segment(name) != name:
            raise DatasetRegistryError(
                f"dataset name {name!r} must be letters, digits, '.', '_' or '-' (it names a registry folder)"
            )
        return self.storage.resolve(join(self.root, name))

    def versions(self, name: str) -> list[int]:
        """The registered versions of ``name``, ascending."""
        found = []
        for entry in st.list_names(self._folder(name)):
            stem, _, suffix = entry.partition(".")
            if suffix == "json" and stem.isdigit():
                found.append(int(stem))
        return sorted(found)

    def read(self, name: str, version: int) -> dict[str, Any]:
        """The record of one version."""
        data = st.read_bytes(self._folder(name).child(f"{version}.json"))
        if data is None:
            raise DatasetRegistryError(
                f"dataset '{name}' has no version {version} (versions: {self.versions(name)})"
            )
        record: dict[str, Any] = json.loads(data)
        return record

    def get(self, name: str, version: int | str = "latest") -> dict[str, Any]:
        """The record of ``name`` at ``version`` (``'latest'``: the highest)."""
        found = self.versions(name)
        if not found:
            raise DatasetRegistryError(f"no dataset '{name}' is registered under {self.root}")
        if version == "latest":
            return self.read(name, found[-1])
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise DatasetRegistryError(f"dataset version {version!r} must be a number or 'latest'") from None
        return self.read(name, number)

    def get_by_id(self, dataset_id: str) -> dict[str, Any]:
        """The record whose ``id`` is ``dataset_id`` (every registered version is looked at)."""
        for name in st.list_names(self.storage.resolve(self.root)):
            for version in self.versions(name):
                record = self.read(name, version)
                if record.get("id") == dataset_id:
                    return record
        raise DatasetRegistryError(f"no registered dataset has id {dataset_id!r}")

    def register(
        self,
        name: str,
        definition: dict[str, Any],
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        create_new_version: bool = False,
    ) -> dict[str, Any]:
        """Register ``definition`` (``kind``, ``targets``, ``partition_format``) as ``name``: its record."""
        folder = self._folder(name)
        while True:
            found = self.versions(name)
            if found:
                latest = self.read(name, found[-1])
                if _definition(latest) == _definition(definition):
                    return latest
                if not create_new_version:
                    raise DatasetRegistryError(
                        f"dataset '{name}' is already registered (version {found[-1]}) with another "
                        "definition; pass create_new_version=True to add a version"
                    )
            version = found[-1] + 1 if found else 1
            record = {
                "name": name,
                "version": version,
                "id": str(uuid.uuid4()),
                "description": description,
                "tags": dict(tags or {}),
                "registered_at": datetime.datetime.now(datetime.UTC).isoformat(),
                **_definition(definition),
            }
            data = json.dumps(record, indent=2, sort_keys=True).encode()
            if _create(folder, f"{version}.json", data):
                return record
            # Another registration took this version number first: look again.


def _create(folder: Location, name: str, data: bytes) -> bool:
    """Write ``folder/name`` only if it is absent; stores without conditional writes at all get a check
    first (two registrations in the same instant may then race: documented). A store that failed a
    conditional write (down, refused) is an error, never a reason to write unconditionally."""
    try:
        if folder.local:
            os.makedirs(folder.path, exist_ok=True)
        return create_exclusive(folder.child(name), data)
    except NoConditionalWritesError:
        target = folder.child(name)
        if st.exists(target):
            return False
        st.write_bytes(target, data)
        return True
