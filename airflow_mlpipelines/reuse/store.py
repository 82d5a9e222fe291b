"""Fingerprint-addressed step outputs with a manifest written last as the commit marker.

Layout: ``<root>/<pipeline>/<step>/<fingerprint>/<output>/...`` plus ``.../<fingerprint>/manifest.json``.
Outputs without a manifest do not exist; a manifest is only a hit when every file it lists is present
with the recorded size (and, with ``full`` verification, the recorded digest).
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airflow_mlpipelines.digests import file_digest, stream_digest
from airflow_mlpipelines.paths import join
from airflow_mlpipelines.reuse.fingerprint import Fingerprint, digest_of

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def step_prefix(root: str, pipeline: str, step: str) -> str:
    """Where every fingerprint of one step lives."""
    return join(root, pipeline, step)


def location(root: str, pipeline: str, step: str, fingerprint: Fingerprint) -> str:
    """Where the outputs of one fingerprint of a step live."""
    return join(step_prefix(root, pipeline, step), fingerprint.short)


def describe_outputs(local_dirs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per output: every file's relative path, size and SHA-256, plus the output's own digest."""
    outputs: dict[str, dict[str, Any]] = {}
    for name, directory in sorted(local_dirs.items()):
        files = []
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            for filename in sorted(filenames):
                abs_path = os.path.join(dirpath, filename)
                rel = os.path.relpath(abs_path, directory).replace(os.sep, "/")
                size = os.path.getsize(abs_path)
                files.append({"path": rel, "size": size, "sha256": file_digest(abs_path)})
        files.sort(key=lambda f: str(f["path"]))
        outputs[name] = {"files": files, "digest": digest_of(files)}
    return outputs


def build_manifest(
    *,
    pipeline: str,
    step: str,
    fingerprint: Fingerprint,
    outputs: dict[str, dict[str, Any]],
    urls: dict[str, str],
    produced_by: dict[str, Any],
) -> dict[str, Any]:
    """The manifest document; ``digest`` covers the outputs' content, which consumers fingerprint."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "pipeline": pipeline,
        "step": step,
        "fingerprint": fingerprint.to_json(),
        "outputs": {name: {**out, "url": urls[name]} for name, out in outputs.items()},
        "digest": digest_of({name: out["digest"] for name, out in outputs.items()}),
        "produced_by": produced_by,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


def commit(loc: str, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically: temp file + rename locally, a single put on object stores."""
    fs, path = fsspec.core.url_to_fs(join(loc, MANIFEST_NAME))
    data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    if isinstance(fs, LocalFileSystem):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def read_manifest(loc: str) -> dict[str, Any] | None:
    """The committed manifest at ``loc``, or None when there is none (or it is unreadable)."""
    fs, path = fsspec.core.url_to_fs(join(loc, MANIFEST_NAME))
    try:
        with fs.open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (FileNotFoundError, ValueError, OSError):
        return None
    return data if isinstance(data, dict) and data.get("manifest_version") == MANIFEST_VERSION else None


def verify(manifest: dict[str, Any], *, full: bool = False) -> list[str]:
    """Problems that make a manifest unusable (empty list: every recorded file is there and intact)."""
    problems: list[str] = []
    for name, output in manifest.get("outputs", {}).items():
        fs, base = fsspec.core.url_to_fs(output["url"])
        for entry in output.get("files", []):
            path = f"{base.rstrip('/')}/{entry['path']}"
            try:
                size = fs.size(path)
            except (FileNotFoundError, OSError):
                problems.append(f"{name}/{entry['path']} is missing")
                continue
            if size != entry["size"]:
                problems.append(f"{name}/{entry['path']} has {size} bytes, manifest says {entry['size']}")
            elif full and _digest(fs, path) != entry["sha256"]:
                problems.append(f"{name}/{entry['path']} does not match its recorded SHA-256")
    return problems


def _digest(fs: Any, path: str) -> str:
    with fs.open(path, "rb") as fh:
        return stream_digest(fh)


def latest_manifest(prefix: str, exclude: str | None = None) -> dict[str, Any] | None:
    """The most recently committed manifest among a step's fingerprints (for explaining a miss)."""
    fs, base = fsspec.core.url_to_fs(prefix)
    try:
        entries = fs.ls(base, detail=False)
    except (FileNotFoundError, OSError):
        return None
    best: dict[str, Any] | None = None
    for entry in entries:
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if name == exclude:
            continue
        manifest = read_manifest(join(prefix, name))
        if manifest is not None and (best is None or manifest["created_at"] > best["created_at"]):
            best = manifest
    return best
