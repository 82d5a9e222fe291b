"""Source-tree digests: content and paths count, ignore files follow gitignore rules, the cache works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_mlpipelines.reuse.source_tree import DigestCache, hash_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "pkg" / "util.py").write_text("X = 1\n")
    return root


def test_digest_depends_on_content_and_paths(tree: Path) -> None:
    first = hash_tree(str(tree))
    assert sorted(first.files) == ["pkg/util.py", "train.py"]
    (tree / "train.py").write_text("print('changed')\n")
    assert hash_tree(str(tree)).digest != first.digest
    (tree / "train.py").write_text("print('train')\n")
    assert hash_tree(str(tree)).digest == first.digest
    (tree / "train.py").rename(tree / "train2.py")
    assert hash_tree(str(tree)).digest != first.digest


def test_bytecode_and_git_are_ignored(tree: Path) -> None:
    first = hash_tree(str(tree)).digest
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref")
    assert hash_tree(str(tree)).digest == first


def test_amlignore_wins_over_gitignore(tree: Path) -> None:
    (tree / "data.csv").write_text("a,b\n")
    (tree / "notes.md").write_text("x")
    (tree / ".gitignore").write_text("*.csv\n")
    assert "data.csv" not in hash_tree(str(tree)).files
    (tree / ".amlignore").write_text("*.md\n!keep.md\n")
    (tree / "keep.md").write_text("k")
    result = hash_tree(str(tree))
    assert result.ignore_file == ".amlignore"
    assert "data.csv" in result.files
    assert "notes.md" not in result.files
    assert "keep.md" in result.files


def test_directory_patterns(tree: Path) -> None:
    (tree / "outputs" / "deep").mkdir(parents=True)
    (tree / "outputs" / "deep" / "model.bin").write_bytes(b"\1")
    (tree / ".gitignore").write_text("outputs/\n")
    assert all(not p.startswith("outputs/") for p in hash_tree(str(tree)).files)


def test_cache_skips_unchanged_files_and_rereads_changed_ones(tree: Path, tmp_path: Path) -> None:
    cache_file = tmp_path / "cache.json"
    cache = DigestCache.load(str(cache_file))
    first = hash_tree(str(tree), cache)
    cache.save()
    assert cache_file.exists()
    # Poison the cached digest: an unchanged stat means the cache is trusted (proof it is used) ...
    warm = DigestCache.load(str(cache_file))
    key = str(tree / "train.py")
    *stat, _ = warm.entries[key]
    mtime = stat[1]
    warm.entries[key] = (*stat, "0" * 64)  # type: ignore[assignment]
    assert hash_tree(str(tree), warm).files["train.py"] == "0" * 64
    # ... and a changed mtime re-reads the file.
    os.utime(tree / "train.py", ns=(mtime + 1_000_000, mtime + 1_000_000))
    assert hash_tree(str(tree), warm).files["train.py"] == first.files["train.py"]


def test_corrupt_cache_is_ignored(tmp_path: Path, tree: Path) -> None:
    cache_file = tmp_path / "cache.json"
    cache_file.write_text("{not json")
    assert hash_tree(str(tree), DigestCache.load(str(cache_file))).digest == hash_tree(str(tree)).digest


def test_a_rewrite_with_its_mtime_restored_is_still_seen(tree: Path, tmp_path: Path) -> None:
    """What rsync -t, cp -p and tar -x do: same size, same mtime, other bytes. The ctime (and, for a
    rename into place, the inode) cannot be restored, so the cache re-reads the file (issue 16, item 1)."""
    cache = DigestCache.load(str(tmp_path / "cache.json"))
    first = hash_tree(str(tree), cache).files["train.py"]
    cache.save()
    path = tree / "train.py"
    before = path.stat()
    text = path.read_bytes()
    path.write_bytes(bytes(reversed(text)))  # same size, different content
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    again = hash_tree(str(tree), DigestCache.load(str(tmp_path / "cache.json"))).files["train.py"]
    assert again != first
