"""Copying files between datastores for a data transfer: streamed, hashed on the way, never half-visible.

Every file is read from the source's filesystem and written to the destination's in chunks (no local
copy of the whole set), several files at a time, and hashed (SHA-256) while it streams: the manifest
records each file's size and digest without reading anything twice. A file is never visible under its
final name before it is complete:

- local destinations: each file is written under a temporary name in its folder and renamed into place
  (``os.replace``); a whole new folder is assembled beside its final name and renamed at once;
- object stores: an object appears only when its upload completes; a failed upload is discarded, not
  completed. What marks the set as complete is the step's manifest, committed last by the runner.

Pure: fsspec filesystems through :class:`~airflow_mlpipelines.storage.Location`, no Airflow.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec.callbacks

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.digests import file_digest
from airflow_mlpipelines.exceptions import StepExecutionError, StorageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_mlpipelines.storage import Location

CHUNK = 8 << 20
WORKERS = 16
"""Files copied at once: object stores answer each request after a round trip; several in flight hide it."""
PARTIAL = ".mlp-partial-"


@dataclass(frozen=True)
class Copied:
    """One file written to the destination: its path relative to the output, size and SHA-256."""

    path: str
    size: int
    sha256: str


class _Progress:
    def __init__(self, progress: st.Progress) -> None:
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, nbytes: int, files: int) -> None:
        with self.lock:
            self.progress.add(nbytes, files=files)


def source_files(src: Location) -> list[tuple[str, Location, int]]:
    """(relative path, location, size) of every file a source stands for: itself, or every file below
    it (one listing)."""
    try:
        if src.fs.isdir(src.path):
            listed = st.details_below(src)
            return [
                (rel, src.child(rel), int(details.get("size") or 0))
                for rel, details in sorted(listed.items())
            ]
        if src.fs.isfile(src.path):
            return [(posix_basename(src.path), src, int(src.fs.size(src.path) or 0))]
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot read {src.where()}: {type(exc).__name__}: {exc}") from None
    raise StorageError(f"{src.where()} does not exist")


def posix_basename(path: str) -> str:
    """The last segment of a local or object-store path."""
    return path.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]


def is_directory(loc: Location) -> bool | None:
    """True/False for an existing folder/file, None when nothing is there."""
    try:
        if loc.fs.isdir(loc.path):
            return True
        if loc.fs.exists(loc.path):
            return False
    except Exception as exc:
        raise StorageError(f"cannot read {loc.where()}: {type(exc).__name__}: {exc}") from None
    return None


def _copy_stream(src: Location, write: Callable[[bytes], Any], progress: _Progress) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with src.fs.open(src.path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            write(chunk)
            digest.update(chunk)
            size += len(chunk)
            progress.add(len(chunk), 0)
    return size, digest.hexdigest()


def _copy_local(src: Location, target: str, progress: _Progress) -> tuple[int, str]:
    """Into a temporary file beside ``target``, renamed into place once complete."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    temporary = os.path.join(
        os.path.dirname(target), f"{PARTIAL}{uuid.uuid4().hex}-{os.path.basename(target)}"
    )
    try:
        with open(temporary, "wb") as out:
            result = _copy_stream(src, out.write, progress)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return result


def _copy_to_local(src: Location, target: str, progress: _Progress) -> tuple[int, str]:
    """A local source is copied by the kernel (``copy_file_range``/``sendfile``) and hashed from the
    page cache; a remote one is streamed."""
    if not src.local:
        return _copy_local(src, target, progress)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    temporary = os.path.join(
        os.path.dirname(target), f"{PARTIAL}{uuid.uuid4().hex}-{os.path.basename(target)}"
    )
    try:
        shutil.copyfile(src.path, temporary)
        size, digest = os.path.getsize(temporary), file_digest(temporary)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    progress.add(size, 0)
    return size, digest


def _upload(
    items: list[tuple[str, Location, int]], dst: Location, as_file: bool, progress: _Progress
) -> list[Copied]:
    """Local files to an object store in one bulk ``put`` (the filesystem's own concurrency: many
    uploads in flight), hashed meanwhile in threads. Each object appears only once its upload completed
    (a failed multipart upload is aborted by the filesystem)."""
    targets = [dst.path if as_file else f"{dst.path.rstrip('/')}/{rel}" for rel, _, _ in items]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        digests = [pool.submit(file_digest, src.path) for _, src, _ in items]
        dst.fs.put([src.path for _, src, _ in items], targets, callback=_Uploaded(progress, items))
        found = [future.result() for future in digests]
    return [
        Copied(posix_basename(dst.path) if as_file else rel, size, digest)
        for (rel, _, size), digest in zip(items, found, strict=True)
    ]


class _Uploaded(fsspec.callbacks.Callback):  # type: ignore[misc]
    """fsspec's per-file completion callback, as progress (bytes by the files' mean size)."""

    def __init__(self, progress: _Progress, items: list[tuple[str, Location, int]]) -> None:
        super().__init__()
        self.progress = progress
        self.mean = sum(size for _, _, size in items) // max(len(items), 1)

    def call(self, *args: Any, **kwargs: Any) -> None:
        return None

    def relative_update(self, inc: int = 1) -> None:
        self.progress.add(self.mean * inc, inc)


def _copy_remote(src: Location, dst: Location, progress: _Progress) -> tuple[int, str]:
    """Streamed into the object; a failure discards the upload (never completes a partial object)."""
    out = dst.fs.open(dst.path, "wb")
    try:
        result = _copy_stream(src, out.write, progress)
    except BaseException:
        discard = getattr(out, "discard", None)
        if callable(discard):
            discard()
        else:  # pragma: no cover - every fsspec buffered file has discard()
            out.close()
            st.remove(dst)
        raise
    out.close()
    return result


def copy_files(
    files: Iterable[tuple[str, Location, int]],
    dst: Location,
    *,
    as_file: bool,
    say: Callable[[str], None],
    what: str,
) -> list[Copied]:
    """Copy ``files`` (relative path, source, size) below ``dst`` (or, ``as_file``, the one file to ``dst``).

    A local destination folder that does not exist yet is assembled beside it and renamed into place
    at once; an existing one gets each file renamed into place (its other files are left alone).
    """
    items = list(files)
    progress = _Progress(st.Progress(what, say, total_bytes=_total(items)))
    if as_file and len(items) != 1:
        raise StepExecutionError(f"{len(items)} files cannot be written to the one file {dst.where()}")
    assemble = dst.local and not as_file and not os.path.exists(dst.path)
    root = f"{dst.path.rstrip('/')}{PARTIAL}{uuid.uuid4().hex}" if assemble else dst.path

    def one(item: tuple[str, Location, int]) -> Copied:
        rel, src, _ = item
        if dst.local:
            target = root if as_file else os.path.join(root, *rel.split("/"))
            size, digest = _copy_to_local(src, target, progress)
        else:
            target_loc = dst if as_file else dst.child(rel)
            size, digest = _copy_remote(src, target_loc, progress)
        progress.add(0, 1)
        return Copied(posix_basename(dst.path) if as_file else rel, size, digest)

    try:
        if not dst.local and items and all(src.local for _, src, _ in items):
            copied = _upload(items, dst, as_file, progress)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
                copied = list(pool.map(one, items))
        if assemble:
            os.makedirs(os.path.dirname(dst.path) or ".", exist_ok=True)
            if not items:
                os.makedirs(root, exist_ok=True)
            os.rename(root, dst.path)
    except BaseException as exc:
        if assemble and os.path.isdir(root):
            shutil.rmtree(root, ignore_errors=True)
        if isinstance(exc, StepExecutionError | StorageError) or not isinstance(exc, Exception):
            raise
        raise StorageError(f"{what}: {type(exc).__name__}: {exc}") from None
    progress.progress.done()
    return sorted(copied, key=lambda c: c.path)


def _total(items: list[tuple[str, Location, int]]) -> int:
    """The bytes to copy (the listing's sizes), for the progress line's ETA."""
    return sum(size for _, _, size in items)


def place_file(local: str, dst: Location, say: Callable[[str], None]) -> None:
    """Put a finished local file at ``dst``: renamed into place locally, uploaded to an object store
    (the object appears once its upload completes)."""
    if dst.local:
        os.makedirs(os.path.dirname(dst.path) or ".", exist_ok=True)
        temporary = os.path.join(os.path.dirname(dst.path), f"{PARTIAL}{uuid.uuid4().hex}")
        try:
            shutil.copyfile(local, temporary) if _other_device(local, dst.path) else os.replace(
                local, temporary
            )
            os.replace(temporary, dst.path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return
    st.upload(local, dst, say)


def _other_device(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_dev != os.stat(os.path.dirname(b) or ".").st_dev
    except OSError:
        return True
