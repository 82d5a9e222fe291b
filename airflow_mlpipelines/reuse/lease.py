"""A lease on one step fingerprint, so two runs that reach the same step at once execute it only once.

The lease is a small JSON file hard-linked into place (``link`` fails when the name exists: atomic on
POSIX filesystems) next to where the manifest will be committed. It carries an expiry, renewed while
the step runs, so a crashed holder blocks nobody for longer than one lease period; taking over an
expired lease happens under an ``flock`` so that two contenders cannot both take it over.
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

LEASE_NAME = "lease.json"


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease and until when (epoch seconds)."""

    holder: str
    expires_at: float


@contextlib.contextmanager
def _takeover_lock(directory: str) -> Iterator[None]:
    fd = os.open(os.path.join(directory, "lease.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _path(directory: str) -> str:
    return os.path.join(directory, LEASE_NAME)


def read(directory: str) -> LeaseInfo | None:
    """The current lease, or None when there is none (an unreadable one counts as expired)."""
    try:
        with open(_path(directory), encoding="utf-8") as fh:
            data = json.load(fh)
        return LeaseInfo(str(data["holder"]), float(data["expires_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return LeaseInfo("<unreadable>", 0.0)


def try_acquire(directory: str, holder: str, seconds: float, now: float | None = None) -> LeaseInfo | None:
    """Take the lease and return None, or return the live lease someone else holds.

    An expired lease is moved aside with an atomic rename first, so only one contender takes it over.
    """
    os.makedirs(directory, exist_ok=True)
    for _ in range(3):
        current = now if now is not None else time.time()
        # Write the content first, then hard-link it into place: link() fails if the lease exists, and a
        # contender never sees a half-written lease.
        tmp = f"{_path(directory)}.new-{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"holder": holder, "expires_at": current + seconds}, fh)
        try:
            os.link(tmp, _path(directory))
            return None
        except FileExistsError:
            pass
        finally:
            os.remove(tmp)
        held = read(directory)
        if held is None:
            continue
        if held.holder == holder:
            renew(directory, holder, seconds)
            return None
        if held.expires_at > current:
            return held
        with _takeover_lock(directory):
            if read(directory) == held:  # still the expired lease we saw, not a fresh one
                try:
                    os.remove(_path(directory))
                except FileNotFoundError:
                    pass
    held = read(directory)
    return held if held is not None else LeaseInfo("<contended>", time.time() + seconds)


def renew(directory: str, holder: str, seconds: float) -> bool:
    """Extend our lease (atomic replace); False when someone else holds it now."""
    held = read(directory)
    if held is None or held.holder != holder:
        return False
    tmp = f"{_path(directory)}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"holder": holder, "expires_at": time.time() + seconds}, fh)
    os.replace(tmp, _path(directory))
    return True


def release(directory: str, holder: str) -> None:
    """Give the lease up if we still hold it."""
    held = read(directory)
    if held is not None and held.holder == holder:
        try:
            os.remove(_path(directory))
        except FileNotFoundError:
            pass


@contextlib.contextmanager
def kept(directory: str, holder: str, seconds: float) -> Iterator[None]:
    """Renew ``holder``'s lease every third of its period while the block runs; release it afterwards.

    Released on failure too, so a run waiting for the same step takes over at once instead of waiting
    for the lease to expire. Shared by the local compute tasks and the container entrypoint.
    """
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(seconds / 3):
            renew(directory, holder, seconds)

    thread = threading.Thread(target=keep_alive, name="mlp-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(directory, holder)
