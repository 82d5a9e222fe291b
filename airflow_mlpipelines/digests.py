"""SHA-256 of streams and files, read in 1 MiB chunks (shared by reuse manifests and stored frames)."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

CHUNK = 1 << 20


def stream_digest(fh: BinaryIO) -> str:
    """SHA-256 of everything readable from a binary stream."""
    h = hashlib.sha256()
    while chunk := fh.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def file_digest(path: str) -> str:
    """SHA-256 of a local file's bytes."""
    with open(path, "rb") as fh:
        return stream_digest(fh)
