"""Content digest of a step's source directory, honouring ``.amlignore`` (else ``.gitignore``).

Each file's digest is cached by (relative path, size, mtime_ns) so an unchanged tree is re-fingerprinted
from ``stat`` calls alone; a changed size or mtime re-reads that file only.
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


@dataclass
class DigestCache:
    """File digests keyed by path + size + mtime_ns, optionally persisted as JSON."""

    path: str | None = None
    entries: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: str) -> DigestCache:
        """Read a cache file; a missing or unreadable one is an empty cache (it is only an optimisation)."""
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
            entries = {k: (int(v[0]), int(v[1]), str(v[2])) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, IndexError):
            entries = {}
        return cls(path=path, entries=entries)

    def digest(self, abs_path: str, stat: os.stat_result) -> str:
        """The file's digest, reusing the cached one when size and mtime are unchanged."""
        hit = self.entries.get(abs_path)
        if hit is not None and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
            return hit[2]
        value = file_digest(abs_path)
        self.entries[abs_path] = (stat.st_size, stat.st_mtime_ns, value)
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
