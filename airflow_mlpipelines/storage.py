"""The one storage layer: a datastore URL → a filesystem and a path, for everything a step stores.

Step outputs, staged inputs, reuse manifests, in-flight leases and UI previews all go through a
:class:`Storage`. URLs name their Airflow connection the way ``ObjectStoragePath`` does
(``s3://<conn_id>@<bucket>/<prefix>``, ``gs://…``, ``abfs://…``); a plain path or ``file://`` URL is the
local disk. Two resolvers implement the same protocol:

- on Airflow components, ``connections.AirflowStorage`` resolves the connection through Airflow
  (``airflow.sdk.io.attach``), so credentials come from Airflow's connections and secrets backends;
- inside a step's container or pod, where Airflow is not installed, :class:`FsspecStorage` builds the
  filesystem from the storage options the compute task handed in for that same connection id
  (``$MLP_STORAGE_CONNECTIONS``, see :func:`FsspecStorage.from_environment`).

This module is pure (fsspec only): the runtime and the reuse layer use it without Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airflow_mlpipelines.exceptions import StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

CONNECTIONS_ENV = "MLP_STORAGE_CONNECTIONS"
"""JSON ``{conn_id: {"protocol": ..., "storage_options": {...}}}`` handed to a step's container or pod."""


WEB_SCHEMES = ("http", "https")
"""Web files (a dataset ``Dataset.File.from_files("https://...")``): read-only, no connection id."""


def is_web_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL."""
    return url.split("://", 1)[0].lower() in WEB_SCHEMES if "://" in url else False


def split_url(url: str) -> tuple[str, str | None, str]:
    """``(scheme, conn_id, fs_path)`` of a URL; ``("file", None, abs_path)`` for local paths.

    ``s3://conn@bucket/key`` → ``("s3", "conn", "bucket/key")``, as ``ObjectStoragePath`` reads it.
    """
    if "://" not in url:
        return "file", None, os.path.abspath(url)
    if url.startswith("file://"):
        return "file", None, url[len("file://") :]
    parts = urlsplit(url)
    if parts.scheme in WEB_SCHEMES:
        return parts.scheme, None, url  # fsspec's HTTP filesystem takes the whole URL as its path
    netloc = parts.netloc
    conn_id = None
    if "@" in netloc:
        conn_id, _, netloc = netloc.rpartition("@")
    path = f"{netloc}{parts.path}".rstrip("/") or netloc
    return parts.scheme, conn_id or None, path


def connection_ids(urls: Mapping[str, str] | list[str]) -> list[str]:
    """The connection ids named by remote URLs (for handing their credentials to a container)."""
    values = list(urls.values()) if hasattr(urls, "values") else list(urls)
    return sorted({c for u in values if (c := split_url(str(u))[1]) is not None})


@dataclass(frozen=True)
class Location:
    """A URL resolved to a filesystem and that filesystem's path for it."""

    url: str
    fs: Any
    path: str
    conn_id: str | None = None

    @property
    def local(self) -> bool:
        """Whether this is the local disk (paths are used in place; renames are atomic)."""
        return isinstance(self.fs, LocalFileSystem)

    def child(self, *parts: str) -> Location:
        """A location below this one."""
        tail = "/".join(p.strip("/") for p in parts if p)
        return Location(
            f"{self.url.rstrip('/')}/{tail}", self.fs, f"{self.path.rstrip('/')}/{tail}", self.conn_id
        )

    def parent(self) -> Location:
        """The folder holding this location."""
        return Location(
            self.url.rstrip("/").rsplit("/", 1)[0],
            self.fs,
            self.path.rstrip("/").rsplit("/", 1)[0],
            self.conn_id,
        )

    def where(self) -> str:
        """The URL and, for remote stores, the connection, for error messages."""
        if self.conn_id:
            return f"{self.url} (connection '{self.conn_id}')"
        return self.url


class Storage(Protocol):
    """Resolves datastore URLs; every step-storage operation goes through one of these."""

    def resolve(self, url: str) -> Location:
        """The filesystem and path of ``url`` (raises :class:`StorageError` for an unusable connection)."""
        ...


class FsspecStorage:
    """Plain fsspec, with storage options per connection id (what a container was handed).

    A URL naming a connection id the mapping does not hold is resolved with fsspec's defaults for its
    scheme (the environment's credential chain, e.g. an instance role or workload identity).
    """

    def __init__(self, connections: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.connections = {k: dict(v) for k, v in (connections or {}).items()}
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> FsspecStorage:
        """The storage a step's container uses: connections from ``$MLP_STORAGE_CONNECTIONS``."""
        text = (environ if environ is not None else os.environ).get(CONNECTIONS_ENV, "")
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StorageError(f"${CONNECTIONS_ENV} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StorageError(f"${CONNECTIONS_ENV} must be a JSON object of connection id -> options")
        return cls(data)

    def resolve(self, url: str) -> Location:
        """Resolve ``url``; filesystems are built once per (scheme, connection)."""
        scheme, conn_id, path = split_url(url)
        key = (scheme, conn_id)
        with self._lock:
            fs = self._cache.get(key)
            if fs is None:
                fs = self._cache[key] = self._filesystem(scheme, conn_id)
        return Location(url, fs, path, conn_id)

    def _filesystem(self, scheme: str, conn_id: str | None) -> Any:
        if scheme == "file":
            return LocalFileSystem()
        options = dict(self.connections.get(conn_id, {}).get("storage_options", {})) if conn_id else {}
        try:
            return fsspec.filesystem(scheme, **options)
        except (ImportError, ValueError) as exc:
            where = f" (connection '{conn_id}')" if conn_id else ""
            raise StorageError(f"cannot open {scheme}:// storage{where}: {exc}") from None


# -- operations every caller shares -----------------------------------------------------------------


def _relative(loc: Location, entry: str) -> str:
    """``entry`` (a path the filesystem listed below ``loc``) relative to ``loc``, in POSIX form."""
    strip = getattr(loc.fs, "_strip_protocol", lambda p: p)
    base = str(strip(loc.path)).rstrip("/") + "/"
    name = str(strip(entry))
    return name[len(base) :] if name.startswith(base) else name.rsplit("/", 1)[-1]


def _uncached(loc: Location) -> Location:
    """Drop the filesystem's cached listings of ``loc``: fsspec filesystems (s3fs...) cache directory
    listings per instance, and instances are shared within a process, so a long-lived process (API server,
    triggerer) or a second look in the same task would otherwise see stale sizes and ETags."""
    invalidate = getattr(loc.fs, "invalidate_cache", None)
    if invalidate is not None and not loc.local:
        invalidate(loc.path)
    return loc


def _fail(loc: Location, action: str, exc: BaseException) -> StorageError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StorageError(f"cannot {action} {loc.where()}: {type(exc).__name__}: {reason[:300]}")


def check_reachable(loc: Location, what: str) -> None:
    """Fail with one clear line when the store behind ``loc`` cannot be used (before anything is written).

    Names ``what`` (e.g. "the datastore root"), the URL and the connection: a bucket that does not
    exist, credentials the store refuses, a store that does not answer.
    """
    _uncached(loc)
    if loc.local:
        return
    bucket = loc.path.split("/", 1)[0]
    try:
        loc.fs.ls(bucket, detail=False)
    except FileNotFoundError:
        raise StorageError(
            f"{what} {loc.where()}: the bucket or container '{bucket}' does not exist"
        ) from None
    except PermissionError as exc:
        raise StorageError(f"{what} {loc.where()}: the store refused the credentials ({exc})") from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(
            f"{what} {loc.where()}: the store cannot be reached ({type(exc).__name__}: {reason[:300]})"
        ) from None


def read_bytes(loc: Location) -> bytes | None:
    """The object's bytes; None when it does not exist; :class:`StorageError` when it cannot be read."""
    _uncached(loc)
    try:
        with loc.fs.open(loc.path, "rb") as fh:
            data: bytes = fh.read()
            return data
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise _fail(loc, "read", exc) from None
    except Exception as exc:  # permissions, a store that is down, bad credentials, a missing bucket
        raise _fail(loc, "read", exc) from None


def write_bytes(loc: Location, data: bytes) -> None:
    """Write ``data`` so readers see all of it or nothing: temp file + fsync + rename locally, one put
    on object stores (S3, GCS and Azure make a single put visible atomically)."""
    try:
        if loc.local:
            os.makedirs(os.path.dirname(loc.path), exist_ok=True)
            tmp = f"{loc.path}.tmp-{uuid.uuid4().hex}"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, loc.path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        else:
            loc.fs.pipe_file(loc.path, data)
    except Exception as exc:
        raise _fail(loc, "write", exc) from None


def exists(loc: Location) -> bool:
    """Whether something is at ``loc`` (a store that cannot be asked is a :class:`StorageError`)."""
    _uncached(loc)
    try:
        return bool(loc.fs.exists(loc.path))
    except Exception as exc:
        raise _fail(loc, "look up", exc) from None


def size(loc: Location) -> int | None:
    """Size in bytes of a file; None when it does not exist."""
    _uncached(loc)
    try:
        return int(loc.fs.size(loc.path))
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _fail(loc, "look up", exc) from None


def info(loc: Location) -> dict[str, Any] | None:
    """fsspec's ``info`` of a file (size, ETag/checksums where the store has them); None when absent."""
    _uncached(loc)
    try:
        details: dict[str, Any] = loc.fs.info(loc.path)
        return details
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise _fail(loc, "look up", exc) from None


def list_names(loc: Location) -> list[str]:
    """Names directly inside a folder (empty when it does not exist)."""
    _uncached(loc)
    try:
        entries = loc.fs.ls(loc.path, detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise _fail(loc, "list", exc) from None
    return sorted({str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries} - {""})


def files_below(loc: Location) -> Iterator[tuple[str, Location]]:
    """Every file below a folder as (relative POSIX path, location), sorted; a file yields itself as ''."""
    _uncached(loc)
    try:
        if loc.fs.isfile(loc.path):
            yield "", loc
            return
        found = loc.fs.find(loc.path)
    except FileNotFoundError:
        return
    except Exception as exc:
        raise _fail(loc, "list", exc) from None
    for entry in sorted(str(e) for e in found):
        rel = _relative(loc, entry)
        yield rel, Location(f"{loc.url.rstrip('/')}/{rel}", loc.fs, entry, loc.conn_id)


def details_below(loc: Location) -> dict[str, dict[str, Any]]:
    """Relative POSIX path -> fsspec details (size, ETag...) of every file below a folder, from one listing
    (empty when absent)."""
    _uncached(loc)
    try:
        found = loc.fs.find(loc.path, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise _fail(loc, "list", exc) from None
    return {
        _relative(loc, str(path)): dict(details)
        for path, details in found.items()
        if details.get("type", "file") == "file"
    }


def files_in(loc: Location) -> dict[str, dict[str, Any]]:
    """Name -> fsspec details (size, ETag, mtime...) of each file directly inside a folder, from one
    fresh listing (sub-folders are left out; empty when the folder does not exist)."""
    _uncached(loc)
    try:
        entries = loc.fs.ls(loc.path, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise _fail(loc, "list", exc) from None
    found = {}
    for details in entries:
        name = str(details.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
        if name and details.get("type", "file") == "file":
            found[name] = dict(details)
    return found


def sizes_below(loc: Location) -> dict[str, int]:
    """Relative POSIX path -> size of every file below a folder, from one listing (empty when absent)."""
    return {rel: int(d.get("size") or 0) for rel, d in details_below(loc).items()}


class Progress:
    """Files and bytes moved, said at most every ``every`` seconds and once at the end (with the rate)."""

    def __init__(
        self, what: str, say: Callable[[str], None] | None, every: float = 5.0, total_bytes: int | None = None
    ) -> None:
        self.what, self.say, self.every, self.total_bytes = what, say, every, total_bytes
        self.started = self.last = time.monotonic()
        self.files = self.bytes = 0

    def add(self, nbytes: int, files: int = 1) -> None:
        """``files`` more file(s) of ``nbytes`` in all (0 files: more bytes of the current one)."""
        self.files += files
        self.bytes += nbytes
        now = time.monotonic()
        if self.say is not None and now - self.last >= self.every:
            self.last = now
            self.say(f"{self.what}: {self.line(now)} so far")

    def line(self, now: float) -> str:
        """``N files, X MB in T s (R MB/s)``."""
        seconds = max(now - self.started, 1e-9)
        mb = self.bytes / 1e6
        text = f"{self.files} file(s), {mb:.1f} MB in {seconds:.1f} s ({mb / seconds:.1f} MB/s)"
        if self.total_bytes and 0 < self.bytes < self.total_bytes:
            left = (self.total_bytes - self.bytes) * seconds / self.bytes
            share = 100 * self.bytes / self.total_bytes
            text += f", {share:.0f}% of {self.total_bytes / 1e6:.1f} MB, about {left:.0f} s left"
        return text

    def done(self) -> None:
        """The summary line."""
        if self.say is not None:
            self.say(f"{self.what}: {self.line(time.monotonic())}")


def download(loc: Location, dest: str, say: Callable[[str], None] | None = None) -> str:
    """Copy a remote file or folder to the local path ``dest`` (its parent is created); returns ``dest``.

    With ``say``, progress (files, bytes, rate) is reported every few seconds and once at the end.
    """
    progress = Progress(f"downloaded {loc.url}", say)
    try:
        if loc.fs.isdir(loc.path):
            os.makedirs(dest, exist_ok=True)
            for rel, item in files_below(loc):
                target = os.path.join(dest, *rel.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                loc.fs.get_file(item.path, target)
                progress.add(os.path.getsize(target))
        else:
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            loc.fs.get_file(loc.path, dest)
            progress.add(os.path.getsize(dest))
    except FileNotFoundError:
        raise StorageError(f"cannot download {loc.where()}: it does not exist") from None
    except StorageError:
        raise
    except Exception as exc:
        raise _fail(loc, "download", exc) from None
    progress.done()
    return dest


def upload(src: str, loc: Location, say: Callable[[str], None] | None = None) -> None:
    """Copy a local file or folder to ``loc``: the destination is exactly ``loc`` (never ``loc/<name>``).

    With ``say``, progress (files, bytes, rate) is reported every few seconds and once at the end.
    """
    progress = Progress(f"uploaded to {loc.url}", say)
    try:
        if os.path.isdir(src):
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    rel = os.path.relpath(full, src).replace(os.sep, "/")
                    loc.fs.put_file(full, f"{loc.path.rstrip('/')}/{rel}")
                    progress.add(os.path.getsize(full))
        else:
            loc.fs.put_file(src, loc.path)
            progress.add(os.path.getsize(src))
    except Exception as exc:
        raise _fail(loc, "upload to", exc) from None
    progress.done()


def remove(loc: Location) -> None:
    """Delete a file or a folder tree; absent is fine."""
    _uncached(loc)
    try:
        if loc.local:
            if os.path.isdir(loc.path):
                shutil.rmtree(loc.path)
            elif os.path.lexists(loc.path):
                os.remove(loc.path)
        elif loc.fs.exists(loc.path):
            loc.fs.rm(loc.path, recursive=True)
    except FileNotFoundError:
        return
    except Exception as exc:
        raise _fail(loc, "delete", exc) from None
