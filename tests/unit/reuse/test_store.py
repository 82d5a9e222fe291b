"""Manifests: written last and atomically, verified before any reuse, never trusted blindly."""

from __future__ import annotations

import os
from pathlib import Path

from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint, digest_of


def _outputs(tmp_path: Path) -> tuple[str, dict[str, str]]:
    loc = tmp_path / "root" / "p" / "train" / "abc"
    (loc / "model").mkdir(parents=True)
    (loc / "model" / "weights.bin").write_bytes(b"\1\2\3")
    (loc / "model" / "sub").mkdir()
    (loc / "model" / "sub" / "meta.json").write_text("{}")
    return str(loc), {"model": str(loc / "model")}


def _commit(tmp_path: Path) -> tuple[str, dict[str, object]]:
    loc, dirs = _outputs(tmp_path)
    manifest = store.build_manifest(
        pipeline="p",
        step="train",
        fingerprint=Fingerprint({"step": "x"}),
        outputs=store.describe_outputs(dirs),
        urls=dirs,
        produced_by={"dag_id": "p", "run_id": "r1", "task_id": "train.run"},
    )
    store.commit(loc, manifest)
    return loc, manifest


def test_outputs_without_manifest_do_not_exist(tmp_path: Path) -> None:
    loc, _ = _outputs(tmp_path)
    assert store.read_manifest(loc) is None


def test_commit_then_read_and_verify(tmp_path: Path) -> None:
    loc, manifest = _commit(tmp_path)
    assert store.read_manifest(loc) == manifest
    files = manifest["outputs"]["model"]["files"]  # type: ignore[index]
    assert [f["path"] for f in files] == ["sub/meta.json", "weights.bin"]
    assert store.verify(manifest) == []
    assert store.verify(manifest, full=True) == []
    assert not [p for p in Path(loc).iterdir() if ".tmp-" in p.name]


def test_missing_file_is_a_miss(tmp_path: Path) -> None:
    loc, manifest = _commit(tmp_path)
    (Path(loc) / "model" / "weights.bin").unlink()
    assert store.verify(manifest) == ["model/weights.bin is missing"]


def test_truncated_file_is_a_miss(tmp_path: Path) -> None:
    loc, manifest = _commit(tmp_path)
    (Path(loc) / "model" / "weights.bin").write_bytes(b"\1")
    assert store.verify(manifest) == ["model/weights.bin has 1 bytes, manifest says 3"]


def test_same_size_edit_in_place_is_seen_by_the_default_check(tmp_path: Path) -> None:
    """Issue 16, item 1: the cheap default check compares mtime and ctime too, not only the size."""
    loc, manifest = _commit(tmp_path)
    path = Path(loc) / "model" / "weights.bin"
    before = path.stat()
    path.write_bytes(b"\x07\x07\x07")
    modified = [
        "model/weights.bin was modified after it was committed (its stamps differ from the manifest's)"
    ]
    assert store.verify(manifest) == modified
    # Restoring the modification time (rsync -t, cp -p) cannot restore the ctime.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert store.verify(manifest) == modified


def test_full_verification_checks_the_bytes(tmp_path: Path) -> None:
    loc, manifest = _commit(tmp_path)
    for entry in manifest["outputs"]["model"]["files"]:  # type: ignore[index]
        entry.pop("mtime_ns"), entry.pop("ctime_ns")  # a manifest written before stamps were recorded
    (Path(loc) / "model" / "weights.bin").write_bytes(b"\x07\x07\x07")
    assert store.verify(manifest) == []
    assert store.verify(manifest, full=True) == ["model/weights.bin does not match its recorded SHA-256"]


def test_stamps_do_not_change_the_content_digest(tmp_path: Path) -> None:
    _loc, manifest = _commit(tmp_path)
    files = manifest["outputs"]["model"]["files"]  # type: ignore[index]
    content = [{k: f[k] for k in ("path", "size", "sha256")} for f in files]
    assert manifest["outputs"]["model"]["digest"] == digest_of(content)  # type: ignore[index]


def test_corrupt_manifest_is_none(tmp_path: Path) -> None:
    loc, _ = _commit(tmp_path)
    (Path(loc) / store.MANIFEST_NAME).write_text('{"manifest_version": 1, "outp')
    assert store.read_manifest(loc) is None


def test_manifest_digest_covers_content_only(tmp_path: Path) -> None:
    _, first = _commit(tmp_path / "a")
    _, second = _commit(tmp_path / "b")
    assert first["digest"] == second["digest"]
    assert first["created_at"] <= second["created_at"]


def test_latest_manifest(tmp_path: Path) -> None:
    loc, manifest = _commit(tmp_path)
    prefix = str(Path(loc).parent)
    assert store.latest_manifest(prefix) == manifest
    assert store.latest_manifest(prefix, exclude="abc") is None
    assert store.latest_manifest(str(tmp_path / "nothing")) is None
