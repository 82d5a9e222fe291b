"""A lease on one step fingerprint, so runs that reach the same step at once execute it only once.

The lease is a small JSON record (holder, expiry) next to where the step's manifest will be committed.
Every change is a *conditional* write, so two contenders can never both believe they hold it, on any
machine:

- local and shared POSIX disks: the record is hard-linked into place (``link`` fails when the name
  exists) and replaced under an ``flock``;
- S3 (and S3-compatible stores): ``PutObject`` with ``If-None-Match: *`` to create and ``If-Match:
  <etag>`` to renew, take over an expired lease or release one (a released lease is a record marked
  free, so nothing is ever deleted unconditionally);
- other stores (no conditional writes known here, e.g. fsspec's memory store): no lease — concurrent
  runs may then compute the same step twice; their manifests are still committed atomically.

The holder renews the expiry while the step runs, so a crashed holder blocks others for at most one
lease period.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_mlpipelines.exceptions import LeaseError, NoConditionalWritesError, StorageError
from airflow_mlpipelines.storage import FsspecStorage, Location

if TYPE_CHECKING:
    from collections.abc import Iterator

LEASE_NAME = "lease.json"
_LOCAL = FsspecStorage()


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease and until when (epoch seconds)."""

    holder: str
    expires_at: float


def _folder(directory: str | Location) -> Location:
    return _LOCAL.resolve(directory) if isinstance(directory, str) else directory


class _Backend(Protocol):
    """Conditional writes of one small object; ``token`` identifies the version that was read."""

    def create(self, data: bytes) -> bool: ...

    def read(self) -> tuple[bytes, str] | None: ...

    def replace(self, data: bytes, token: str) -> bool: ...


class _PosixBackend:
    """A lease file on a local or shared POSIX disk (hard link to create, ``flock`` to replace)."""

    def __init__(self, folder: Location, name: str = LEASE_NAME) -> None:
        self.folder = folder.path
        self.path = os.path.join(folder.path, name)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(os.path.join(self.folder, "lease.lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _tmp(self, data: bytes) -> str:
        os.makedirs(self.folder, exist_ok=True)
        tmp = f"{self.path}.new-{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        return tmp

    def create(self, data: bytes) -> bool:
        # Content first, then link into place: link() fails if the lease exists; nobody sees half a lease.
        tmp = self._tmp(data)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.remove(tmp)

    def read(self) -> tuple[bytes, str] | None:
        try:
            with open(self.path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                return fh.read(), f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
        except FileNotFoundError:
            return None

    def replace(self, data: bytes, token: str) -> bool:
        with self._locked():
            current = self.read()
            if current is None or current[1] != token:
                return False
            os.replace(self._tmp(data), self.path)
            return True


class _S3Backend:
    """A lease object on S3 with conditional ``PutObject`` (``If-None-Match`` / ``If-Match``)."""

    def __init__(self, loc: Location) -> None:
        self.fs = loc.fs
        self.loc = loc
        self.bucket, self.key, _ = loc.fs.split_path(loc.path)

    def _call(self, **kwargs: Any) -> Any:
        from fsspec.asyn import sync

        async def call() -> Any:
            response = await self.fs._call_s3(**kwargs)
            if "Body" in response:
                body = response["Body"]
                try:
                    return await body.read(), response["ETag"]
                finally:
                    body.close()
            return response

        return sync(self.fs.loop, call)

    def create(self, data: bytes) -> bool:
        try:
            self._call(method="put_object", Bucket=self.bucket, Key=self.key, Body=data, IfNoneMatch="*")
            return True
        except FileExistsError:
            return False

    def read(self) -> tuple[bytes, str] | None:
        try:
            data, etag = self._call(method="get_object", Bucket=self.bucket, Key=self.key)
        except FileNotFoundError:
            return None
        return data, str(etag)

    def replace(self, data: bytes, token: str) -> bool:
        try:
            self._call(method="put_object", Bucket=self.bucket, Key=self.key, Body=data, IfMatch=token)
            return True
        except (FileExistsError, FileNotFoundError):
            return False
        except OSError as exc:  # s3fs maps 412 PreconditionFailed (If-Match) to EINVAL
            if "precondition" in str(exc).lower() or getattr(exc, "errno", None) == 22:
                return False
            raise


def supports_leases(folder: Location) -> bool:
    """Whether the store of ``folder`` offers the conditional writes a lease needs."""
    return folder.local or "s3" in _protocols(folder.fs)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = getattr(fs, "protocol", ())
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _backend(directory: str | Location) -> _Backend:
    folder = _folder(directory)
    if folder.local:
        return _PosixBackend(folder)
    if "s3" in _protocols(folder.fs):
        return _S3Backend(folder.child(LEASE_NAME))
    raise LeaseError(f"the store of {folder.where()} offers no conditional writes: no in-flight lease")


def create_exclusive(loc: Location, data: bytes) -> bool:
    """Create the object at ``loc`` with ``data`` unless something is there already (False then).

    The same conditional create a lease uses (POSIX hard link; S3 ``If-None-Match: *``), for other
    records that must be claimed exactly once (a model version number). Stores without conditional
    writes raise :class:`LeaseError`.
    """
    with _guarded("create", loc):
        if loc.local:
            return _PosixBackend(loc.parent(), os.path.basename(loc.path)).create(data)
        if "s3" in _protocols(loc.fs):
            return _S3Backend(loc).create(data)
    raise NoConditionalWritesError(
        f"the store of {loc.where()} offers no conditional writes (local disks and S3 do)"
    )


def _record(holder: str, expires_at: float) -> bytes:
    return json.dumps({"holder": holder, "expires_at": expires_at}).encode()


def _parse(data: bytes) -> LeaseInfo | None:
    """The live or expired lease in a record; None for a released one; unreadable counts as expired."""
    try:
        value = json.loads(data)
        if value.get("released"):
            return None
        return LeaseInfo(str(value["holder"]), float(value["expires_at"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return LeaseInfo("<unreadable>", 0.0)


def _guarded(action: str, directory: str | Location) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        try:
            yield
        except (LeaseError, StorageError):
            raise
        except Exception as exc:  # OSError, or the store's client errors (botocore's, for S3)
            where = directory if isinstance(directory, str) else directory.where()
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise LeaseError(
                f"cannot {action} the in-flight lease at {where}: {type(exc).__name__}: {reason[:300]}"
            ) from None

    return guard()


def read(directory: str | Location) -> LeaseInfo | None:
    """The current lease, or None when there is none (or it was released)."""
    with _guarded("read", directory):
        current = _backend(directory).read()
    return None if current is None else _parse(current[0])


def try_acquire(
    directory: str | Location, holder: str, seconds: float, now: float | None = None
) -> LeaseInfo | None:
    """Take the lease and return None, or return the live lease someone else holds.

    Taking over an expired or released lease is a conditional replace of the version just read, so of
    several contenders exactly one wins.
    """
    with _guarded("take", directory):
        backend = _backend(directory)
        for _ in range(5):
            current = now if now is not None else time.time()
            if backend.create(_record(holder, current + seconds)):
                return None
            found = backend.read()
            if found is None:
                continue  # released and removed between our two calls: try to create again
            data, token = found
            held = _parse(data)
            if held is not None and held.holder != holder and held.expires_at > current:
                return held
            if backend.replace(_record(holder, current + seconds), token):
                return None
        held = read(directory)
        return held if held is not None else LeaseInfo("<contended>", time.time() + seconds)


def renew(directory: str | Location, holder: str, seconds: float) -> bool:
    """Extend our lease; False when someone else holds it now (ours expired and was taken over)."""
    with _guarded("renew", directory):
        backend = _backend(directory)
        for _ in range(3):
            found = backend.read()
            if found is None:
                return False
            held = _parse(found[0])
            if held is None or held.holder != holder:
                return False
            if backend.replace(_record(holder, time.time() + seconds), found[1]):
                return True
        return False


def release(directory: str | Location, holder: str) -> None:
    """Give the lease up if we still hold it (marks the record free; a contender takes it at once)."""
    with _guarded("release", directory):
        backend = _backend(directory)
        found = backend.read()
        if found is None:
            return
        held = _parse(found[0])
        if held is not None and held.holder == holder:
            backend.replace(json.dumps({"released": True, "holder": holder}).encode(), found[1])


@contextlib.contextmanager
def kept(directory: str | Location, holder: str, seconds: float) -> Iterator[None]:
    """Renew ``holder``'s lease every third of its period while the block runs; release it afterwards.

    Released on failure too, so a run waiting for the same step takes over at once instead of waiting
    for the lease to expire. Shared by every compute kind through the runtime's runner.
    """
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(seconds / 3):
            with contextlib.suppress(LeaseError, StorageError):  # a blip: the next renewal tries again
                renew(directory, holder, seconds)

    thread = threading.Thread(target=keep_alive, name="mlp-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(directory, holder)
