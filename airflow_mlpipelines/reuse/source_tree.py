"""Content digest of a step's source directory, honouring ``.amlignore`` (else ``.gitignore``).

Each file's digest is cached by its path and ``stat`` — size, mtime, and, as git's index does, the inode
change time and inode number — so an unchanged tree is re-fingerprinted from ``stat`` calls alone. Tools
that rewrite a file and restore its modification time (``rsync -t``, ``cp -p``, ``tar -x``) cannot restore
the ctime, and a rename-into-place changes the inode, so a changed file is always re-read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pathspec

from airflow_mlpipelines.digests import file_digest

if TYPE_CHECKING:
    from collections.abc import Iterator

IGNORE_FILES = (".amlignore", ".gitignore")
"""Azure ML uses .amlignore when present, else .gitignore (both with gitignore semantics)."""

ALWAYS_IGNORED = ("__pycache__/", "*.pyc", ".git/", ".ipynb_checkpoints/")
"""Byproducts of running or editing code, which would otherwise change the digest on every run."""


Stamp = tuple[int, int, int, int]
"""What the cache trusts about a file: (size, mtime_ns, ctime_ns, inode)."""


def stamp(stat: os.stat_result) -> Stamp:
    """The cache key of a file's ``stat``."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


@dataclass
class DigestCache:
    """File digests keyed by path and :func:`stamp`, optionally persisted as JSON."""

    path: str | None = None
    entries: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: str) -> DigestCache:
        """Read a cache file; a missing, unreadable or older-format one is an empty cache (only an
        optimisation: every file is then read once more)."""
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
            entries = {
                k: (int(v[0]), int(v[1]), int(v[2]), int(v[3]), str(v[4]))
                for k, v in raw.items()
                if len(v) == 5
            }
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            entries = {}
        return cls(path=path, entries=entries)

    def digest(self, abs_path: str, stat: os.stat_result) -> str:
        """The file's digest, reusing the cached one when its stamp is unchanged."""
        hit = self.entries.get(abs_path)
        key = stamp(stat)
        if hit is not None and hit[:4] == key:
            return hit[4]
        value = file_digest(abs_path)
        self.entries[abs_path] = (*key, value)
        self.dirty = True
        return value

    def save(self) -> None:
        """Persist atomically (temp file + rename) when something changed."""
        if self.path is None or not self.dirty:
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        tmp = f"{self.path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({k: list(v) for k, v in self.entries.items()}, fh)
        os.replace(tmp, self.path)
        self.dirty = False


@dataclass(frozen=True)
class TreeDigest:
    """The digest of a whole tree and of each file in it (relative POSIX paths), for explanations."""

    digest: str
    files: dict[str, str]
    ignore_file: str | None


def ignore_spec(root: str) -> tuple[pathspec.GitIgnoreSpec, str | None]:
    """The ignore rules of ``root``: its .amlignore, else its .gitignore, plus :data:`ALWAYS_IGNORED`."""
    lines = list(ALWAYS_IGNORED)
    used = None
    for name in IGNORE_FILES:
        candidate = os.path.join(root, name)
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as fh:
                lines += fh.read().splitlines()
            used = name
            break
    return pathspec.GitIgnoreSpec.from_lines(lines), used


def _walk(root: str, spec: pathspec.GitIgnoreSpec) -> Iterator[tuple[str, str]]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(f"{rel_dir}{d}/"))
        for name in sorted(filenames):
            rel = f"{rel_dir}{name}"
            if not spec.match_file(rel):
                yield rel, os.path.join(dirpath, name)


def hash_tree(root: str, cache: DigestCache | None = None) -> TreeDigest:
    """Digest every non-ignored file under ``root`` (path and bytes), in a stable order."""
    spec, used = ignore_spec(root)
    cache = cache if cache is not None else DigestCache()
    files: dict[str, str] = {}
    for rel, abs_path in _walk(root, spec):
        stat = os.stat(abs_path)
        files[rel] = cache.digest(abs_path, stat)
    total = hashlib.sha256(json.dumps(files, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return TreeDigest(total, files, used)
