"""Digests of streams and files.

Two kinds, for two jobs: *content* digests (SHA-256, BLAKE3) identify content in reuse fingerprints and
manifests, where a collision would mean wrong reuse, so they are cryptographic; *integrity* checksums
(XXH3-128) catch a stored XCom value that was truncated, corrupted or replaced by accident between its
write and its read, on every read, at memory speed. A stored value names the kind it was written with
(``xxh3_128:`` or ``blake3:``), so values written by earlier versions still verify.
"""

from __future__ import annotations

import hashlib
import os
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


INTEGRITY_PREFIX = "xxh3_128:"


def integrity_digest(path: str) -> str:
    """XXH3-128 of a local file, memory-mapped (about 10x BLAKE3's speed on one core), prefixed
    ``xxh3_128:``: not cryptographic, so only for detecting accidental damage, never to identify content."""
    import mmap

    import xxhash

    hasher = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
                hasher.update(view)
    return f"{INTEGRITY_PREFIX}{hasher.hexdigest()}"


def file_matches(path: str, digest: str) -> bool:
    """Whether the file's bytes have ``digest``, computed the way its prefix names (XXH3-128, BLAKE3)."""
    if digest.startswith(INTEGRITY_PREFIX):
        return integrity_digest(path) == digest
    if digest.startswith("blake3:"):
        return fast_file_digest(path) == digest
    return file_digest(path) == digest
