"""The model registry: versioned model files with tags and properties, kept in the datastore.

Layout, below the registry root (``[mlpipelines] model_registry``, default ``<datastore_root>/models``)::

    <name>/<version>/claim.json     who took the version number (a conditional create: exactly one winner)
    <name>/<version>/files/<path>   the registered file, or the registered folder's files
    <name>/<version>/model.json     written last: version, tags, properties, digest of the files, run

A version number is *claimed* by creating ``claim.json`` conditionally (POSIX hard link, S3
``If-None-Match``: :func:`airflow_mlpipelines.reuse.lease.create_exclusive`), so two registrations
running at once never get the same number, on any machine; the loser takes the next number. Only the
claimant writes into the version's folder, and ``model.json`` is its commit marker: a version without one
(a registration that died half-way) is invisible and its number is never handed out again. Stores
without conditional writes cannot hold a registry (a clear :class:`ModelError`).

Pure (no Airflow): a step's script registers models from any step image through the storage layer.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.digests import file_digest
from airflow_mlpipelines.exceptions import LeaseError, ModelError, ModelNotFoundError, StorageError
from airflow_mlpipelines.paths import join
from airflow_mlpipelines.reuse import lease
from airflow_mlpipelines.reuse.store import output_digest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from airflow_mlpipelines.storage import Storage

REGISTRY_ENV = "MLP_MODEL_REGISTRY"
"""The registry's URL, handed to a step's script by the runner (its storage: ``$MLP_STORAGE_CONNECTIONS``)."""
CACHE_ENV = "MLP_MODEL_CACHE"
"""Where models on remote registries are downloaded for ``get_model_path`` (default: the user's cache)."""
RECORD = "model.json"
CLAIM = "claim.json"
FILES = "files"
MAX_TRIES = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def check_name(name: object) -> str:
    """A model name is one path segment: letters, digits, ``-``, ``_`` and ``.`` (SDK v1's rule)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ModelError(
            f"invalid model name {name!r}: use letters, digits, '-', '_' and '.', starting with a letter "
            "or digit (at most 255 characters)"
        )
    return name


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (the content of its ``model.json``, plus where it lives)."""

    name: str
    version: int
    url: str
    """The version's folder in the registry."""
    path: str
    """The registered file's or folder's name below ``files/`` (what ``download`` creates)."""
    digest: str
    files: tuple[dict[str, Any], ...]
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    created_time: str = ""
    framework: str | None = None
    framework_version: str | None = None
    run: dict[str, Any] | None = None
    """The registering step run (id, DAG id, run id, step), None when registered from a notebook."""

    @property
    def id(self) -> str:
        """``name:version``, SDK v1's model id."""
        return f"{self.name}:{self.version}"

    @property
    def model_url(self) -> str:
        """The registered file or folder itself."""
        return join(self.url, FILES, self.path)

    def to_json(self) -> dict[str, Any]:
        """``model.json``."""
        return {
            "name": self.name,
            "version": self.version,
            "path": self.path,
            "digest": self.digest,
            "files": [dict(f) for f in self.files],
            "tags": dict(self.tags),
            "properties": dict(self.properties),
            "description": self.description,
            "created_time": self.created_time,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], url: str) -> ModelVersion:
        """Read ``model.json`` back (``url``: the version's folder)."""
        try:
            return cls(
                name=str(data["name"]),
                version=int(data["version"]),
                url=url,
                path=str(data["path"]),
                digest=str(data["digest"]),
                files=tuple(dict(f) for f in data["files"]),
                tags={str(k): str(v) for k, v in dict(data.get("tags") or {}).items()},
                properties={str(k): str(v) for k, v in dict(data.get("properties") or {}).items()},
                description=data.get("description"),
                created_time=str(data.get("created_time") or ""),
                framework=data.get("framework"),
                framework_version=data.get("framework_version"),
                run=data.get("run"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"the model record {url}/{RECORD} is malformed: {type(exc).__name__}: {exc}"
            ) from None


def describe(source: str, child_paths: Iterable[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The name a local file or folder is registered under and its files (path below ``files/``, size,
    SHA-256), sorted; ``child_paths`` limits a folder to those files (SDK v1's argument)."""
    source = os.path.abspath(source)
    base = os.path.basename(source.rstrip(os.sep))
    if os.path.isfile(source):
        return base, [{"path": base, "size": os.path.getsize(source), "sha256": file_digest(source)}]
    if not os.path.isdir(source):
        raise ModelError(f"the model path {source} does not exist")
    wanted = None if child_paths is None else {os.path.normpath(p) for p in child_paths}
    files = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        for filename in sorted(filenames):
            full = os.path.join(dirpath, filename)
            rel = os.path.relpath(full, source)
            if wanted is not None and rel not in wanted:
                continue
            files.append(
                {
                    "path": f"{base}/{rel.replace(os.sep, '/')}",
                    "size": os.path.getsize(full),
                    "sha256": file_digest(full),
                }
            )
    if not files:
        raise ModelError(f"the model folder {source} holds no files" + (" of child_paths" if wanted else ""))
    return base, sorted(files, key=lambda f: str(f["path"]))


def matches(values: Mapping[str, str], wanted: object) -> bool:
    """SDK v1's tag/property filter: a dict, or a list of ``'key'`` / ``['key', 'value']`` items."""
    if wanted is None:
        return True
    if isinstance(wanted, dict):
        items: list[Any] = list(wanted.items())
    elif isinstance(wanted, list | tuple):
        items = list(wanted)
    else:
        raise ModelError(
            f"a tag or property filter is a dict or a list of 'key' / ['key', 'value'], got {wanted!r}"
        )
    for item in items:
        if isinstance(item, str):
            if item not in values:
                return False
        else:
            key, value = item
            if values.get(str(key)) != str(value):
                return False
    return True


class ModelRegistry:
    """Register, find and fetch model versions below ``root`` through ``storage``.

    ``mirror`` is called with every version this registry registers (MLflow's model registry, when
    configured); it never fails a registration — the datastore is the source of truth.
    """

    def __init__(
        self,
        storage: Storage,
        root: str,
        *,
        mirror: Callable[[ModelVersion], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.storage = storage
        self.root = root.rstrip("/")
        self.mirror = mirror
        self.say = say

    def __repr__(self) -> str:
        return f"ModelRegistry({self.root!r})"

    def _loc(self, *parts: str) -> st.Location:
        return self.storage.resolve(join(self.root, *parts))

    # -- registering ------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        source: str,
        *,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        description: str | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        run: Mapping[str, Any] | None = None,
        child_paths: Iterable[str] | None = None,
    ) -> ModelVersion:
        """Register the local file or folder ``source`` as the next version of ``name``."""
        check_name(name)
        path, files = describe(source, child_paths)
        version, folder = self._claim(name)
        files_loc = folder.child(FILES)
        try:
            self._copy(os.path.abspath(source), files_loc.child(path), [f["path"] for f in files], path)
            self._check_sizes(files_loc, files, f"model {name} version {version}")
        except StorageError as exc:
            raise ModelError(f"cannot store model {name} version {version}: {exc}") from None
        model = ModelVersion(
            name=name,
            version=version,
            url=folder.url,
            path=path,
            digest=output_digest(files),
            files=tuple(files),
            tags={str(k): "" if v is None else str(v) for k, v in dict(tags or {}).items()},
            properties={str(k): str(v) for k, v in dict(properties or {}).items()},
            description=description,
            created_time=datetime.datetime.now(datetime.UTC).isoformat(),
            framework=framework,
            framework_version=framework_version,
            run=dict(run) if run is not None else None,
        )
        st.write_bytes(folder.child(RECORD), json.dumps(model.to_json(), indent=1, sort_keys=True).encode())
        self._say(f"registered model {name} version {version} ({len(files)} file(s)) at {folder.url}")
        if self.mirror is not None:
            try:
                self.mirror(model)
            except Exception as exc:  # a mirror outage must not undo a registration that is stored
                self._say(
                    f"model {name} version {version} could not be mirrored: {type(exc).__name__}: {exc}"
                )
        return model

    def _claim(self, name: str) -> tuple[int, st.Location]:
        """The next free version number of ``name``, claimed conditionally (exactly one claimant wins)."""
        claim = json.dumps(
            {"claimed_by": uuid.uuid4().hex, "at": datetime.datetime.now(datetime.UTC).isoformat()}
        )
        candidate = 0
        for _ in range(MAX_TRIES):
            candidate = max(candidate, max(self._numbers(name), default=0)) + 1
            folder = self._loc(name, str(candidate))
            try:
                won = lease.create_exclusive(folder.child(CLAIM), claim.encode())
            except LeaseError as exc:
                raise ModelError(
                    f"the model registry {self.root} cannot allocate versions: {exc}; put it on a local disk "
                    "or S3 ([mlpipelines] model_registry)"
                ) from None
            if won:
                return candidate, folder
        raise ModelError(f"no free version of model {name} after {MAX_TRIES} tries at {self.root}")

    def _numbers(self, name: str) -> list[int]:
        """Every claimed version number of ``name`` (committed or not)."""
        return sorted(int(n) for n in st.list_names(self._loc(name)) if n.isdigit())

    def _copy(self, source: str, dest: st.Location, files: list[str], base: str) -> None:
        if os.path.isfile(source):
            if dest.local:
                os.makedirs(os.path.dirname(dest.path), exist_ok=True)
                shutil.copyfile(source, dest.path)
            else:
                st.upload(source, dest, self.say)
            return
        for rel in files:
            inner = rel[len(base) + 1 :]
            target = dest.child(inner)
            full = os.path.join(source, *inner.split("/"))
            if target.local:
                os.makedirs(os.path.dirname(target.path), exist_ok=True)
                shutil.copyfile(full, target.path)
            else:
                target.fs.put_file(full, target.path)

    def _check_sizes(self, files_loc: st.Location, files: Iterable[Mapping[str, Any]], what: str) -> None:
        """Every file of a version is stored with its size (a cheap check after writing and before use)."""
        stored = st.sizes_below(files_loc)
        missing = [f["path"] for f in files if stored.get(str(f["path"])) != int(f["size"])]
        if missing:
            raise ModelError(
                f"{what} at {files_loc.where()}: files missing or of the wrong size: {missing[:5]}"
            )

    # -- finding ----------------------------------------------------------------------------------
    def _read(self, name: str, version: int) -> ModelVersion | None:
        folder = self._loc(name, str(version))
        data = st.read_bytes(folder.child(RECORD))
        if data is None:
            return None
        try:
            return ModelVersion.from_json(json.loads(data), folder.url)
        except ValueError as exc:
            raise ModelError(f"the model record {folder.url}/{RECORD} is not JSON: {exc}") from None

    def names(self) -> list[str]:
        """Every model name with at least one claimed version."""
        return [n for n in st.list_names(self.storage.resolve(self.root)) if _NAME.match(n)]

    def versions(self, name: str) -> list[ModelVersion]:
        """Every committed version of ``name``, oldest first."""
        found = [self._read(name, n) for n in self._numbers(check_name(name))]
        return [m for m in found if m is not None]

    def get(
        self, name: str, version: int | None = None, *, tags: object = None, properties: object = None
    ) -> ModelVersion:
        """Version ``version`` of ``name``, or its latest (matching ``tags``/``properties``) when None."""
        check_name(name)
        if version is not None:
            found = self._read(name, int(version))
            if found is not None:
                return found
        else:
            for number in reversed(self._numbers(name)):
                candidate = self._read(name, number)
                if (
                    candidate is not None
                    and matches(candidate.tags, tags)
                    and matches(candidate.properties, properties)
                ):
                    return candidate
        raise ModelNotFoundError(self._missing(name, version, tags, properties))

    def _missing(self, name: str, version: int | None, tags: object, properties: object) -> str:
        existing = [m.version for m in self.versions(name)]
        what = f"model {name!r}" + (f" version {version}" if version is not None else "")
        if tags is not None or properties is not None:
            what += f" with tags {tags!r} and properties {properties!r}"
        if existing:
            return f"no {what} in the registry {self.root}; its versions: {', '.join(map(str, existing))}"
        others = self.names()
        hint = f"; registered models: {', '.join(others)}" if others else "; no model is registered there"
        return f"no {what} in the registry {self.root}{hint}"

    def list(
        self, name: str | None = None, tags: object = None, properties: object = None, latest: bool = False
    ) -> list[ModelVersion]:
        """Committed versions (of ``name``, or of every model) matching the filters, newest first per
        name; ``latest``: only the newest matching version of each name."""
        found: list[ModelVersion] = []
        for model_name in [check_name(name)] if name is not None else self.names():
            matching = [
                m
                for m in reversed(self.versions(model_name))
                if matches(m.tags, tags) and matches(m.properties, properties)
            ]
            found.extend(matching[:1] if latest else matching)
        return found

    # -- fetching ---------------------------------------------------------------------------------
    def download(self, model: ModelVersion, target_dir: str = ".", exist_ok: bool = False) -> str:
        """Copy the version's file or folder into ``target_dir``; returns its local path. Every file is
        checked against its SHA-256 before anything appears at the destination."""
        dest = os.path.join(os.path.abspath(target_dir), model.path)
        if os.path.exists(dest) and not exist_ok:
            raise ModelError(f"{dest} exists already (pass exist_ok=True to overwrite it)")
        os.makedirs(os.path.abspath(target_dir), exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".mlp-model-", dir=os.path.abspath(target_dir)) as tmp:
            self._fetch_verified(model, tmp)
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            elif os.path.lexists(dest):
                os.remove(dest)
            os.replace(os.path.join(tmp, model.path), dest)
        return dest

    def _fetch_verified(self, model: ModelVersion, into: str) -> None:
        files_loc = self.storage.resolve(join(model.url, FILES))
        for item in model.files:
            rel = str(item["path"])
            target = os.path.join(into, *rel.split("/"))
            try:
                st.download(files_loc.child(rel), target)
            except StorageError as exc:
                raise ModelError(f"model {model.id}: {exc}") from None
            if file_digest(target) != item["sha256"]:
                raise ModelError(
                    f"model {model.id}: {rel} does not match its recorded SHA-256 (corrupt copy)"
                )

    def local_path(self, model: ModelVersion, cache_dir: str | None = None) -> str:
        """A local path to the version's file or folder: in place on a local registry (sizes checked),
        else a verified copy in the cache (``$MLP_MODEL_CACHE``, else ``~/.cache/airflow_mlpipelines``)."""
        files_loc = self.storage.resolve(join(model.url, FILES))
        if files_loc.local:
            self._check_sizes(files_loc, model.files, f"model {model.id}")
            return os.path.join(files_loc.path, *model.path.split("/"))
        base = (
            cache_dir
            or os.environ.get(CACHE_ENV)
            or os.path.expanduser("~/.cache/airflow_mlpipelines/models")
        )
        folder = os.path.join(base, model.name, f"{model.version}-{model.digest.split(':')[-1][:16]}")
        if not os.path.isdir(folder):
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".fetch-", dir=os.path.dirname(folder))
            try:
                self._fetch_verified(model, tmp)
                with contextlib.suppress(OSError):  # another process cached it first: theirs is as good
                    os.rename(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return os.path.join(folder, *model.path.split("/"))

    def _say(self, text: str) -> None:
        if self.say is not None:
            self.say(text)
