"""Fingerprint-addressed step outputs with a manifest written last as the commit marker.

Layout: manifests at ``<root>/_manifests/<pipeline>/<step>/<fingerprint>/manifest.json``, outputs where
the manifest's URLs say. Outputs without a manifest do not exist; a manifest is only a hit when every
file it lists is present with the recorded size (and, with ``full`` verification, the recorded digest).
Every read and write goes through the storage layer, so manifests on object stores resolve Airflow
connections on workers and handed-in credentials in containers.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.digests import file_digest, stream_digest
from airflow_mlpipelines.paths import join
from airflow_mlpipelines.reuse.fingerprint import Fingerprint, digest_of

if TYPE_CHECKING:
    from airflow_mlpipelines.storage import Storage

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
_PLAIN = st.FsspecStorage()


class CorruptManifestError(ValueError):
    """A manifest file exists but is not a manifest of this version (a miss, logged by the caller)."""


def step_prefix(root: str, pipeline: str, step: str) -> str:
    """Where every fingerprint of one step lives."""
    return join(root, pipeline, step)


def location(root: str, pipeline: str, step: str, fingerprint: Fingerprint) -> str:
    """Where the manifest (and lease) of one fingerprint of a step live."""
    return join(step_prefix(root, pipeline, step), fingerprint.short)


CONTENT_KEYS = ("path", "size", "sha256")
"""What an output's digest covers: identical bytes give identical digests whatever the stamps say."""


def output_digest(files: list[dict[str, Any]]) -> str:
    """The digest of one output: its files' paths, sizes and SHA-256s."""
    return digest_of([{k: f[k] for k in CONTENT_KEYS} for f in files])


def describe_outputs(local_dirs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per output: every file's relative path, size and SHA-256 (plus the stamps that let a cheap check
    see an edit in place: mtime and ctime in nanoseconds), and the output's own digest."""
    outputs: dict[str, dict[str, Any]] = {}
    for name, directory in sorted(local_dirs.items()):
        files = []
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames.sort()
            for filename in sorted(filenames):
                abs_path = os.path.join(dirpath, filename)
                rel = os.path.relpath(abs_path, directory).replace(os.sep, "/")
                info = os.stat(abs_path)
                files.append(
                    {
                        "path": rel,
                        "size": info.st_size,
                        "sha256": file_digest(abs_path),
                        "mtime_ns": info.st_mtime_ns,
                        "ctime_ns": info.st_ctime_ns,
                    }
                )
        files.sort(key=lambda f: str(f["path"]))
        outputs[name] = {"files": files, "digest": output_digest(files)}
    return outputs


def stamp_remote(described: dict[str, Any], listed: dict[str, dict[str, Any]]) -> None:
    """Record the object store's content tag of each stored file (``listed``: relative path -> the
    store's details, as ``storage.details_below`` gives them) in place of the local stamps, which say
    nothing about the stored copy."""
    for entry in described["files"]:
        entry.pop("mtime_ns", None)
        entry.pop("ctime_ns", None)
        details = listed.get(str(entry["path"])) or {}
        tag = str(details.get("ETag") or details.get("etag") or "").strip('"')
        if tag:
            entry["etag"] = tag


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


def commit(loc: str, manifest: dict[str, Any], storage: Storage | None = None) -> None:
    """Write the manifest atomically (the storage layer's temp + rename, or one object put)."""
    data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    st.write_bytes((storage or _PLAIN).resolve(join(loc, MANIFEST_NAME)), data)


def load_manifest(loc: str, storage: Storage | None = None) -> dict[str, Any] | None:
    """The committed manifest at ``loc``: None when there is none.

    Raises :class:`~airflow_mlpipelines.exceptions.StorageError` when it cannot be read (permissions, a
    store that does not answer) and :class:`CorruptManifestError` when the file is not a manifest.
    """
    target = (storage or _PLAIN).resolve(join(loc, MANIFEST_NAME))
    data = st.read_bytes(target)
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise CorruptManifestError(f"{target.where()} is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or value.get("manifest_version") != MANIFEST_VERSION:
        raise CorruptManifestError(f"{target.where()} is not a version-{MANIFEST_VERSION} manifest")
    return value


def read_manifest(loc: str, storage: Storage | None = None) -> dict[str, Any] | None:
    """Like :func:`load_manifest`, but a corrupt manifest is None too (it can never be a hit)."""
    try:
        return load_manifest(loc, storage)
    except CorruptManifestError:
        return None


def verify(manifest: dict[str, Any], *, full: bool = False, storage: Storage | None = None) -> list[str]:
    """Problems that make a manifest unusable (empty list: every recorded file is there and intact)."""
    problems: list[str] = []
    resolver = storage or _PLAIN
    for name, output in manifest.get("outputs", {}).items():
        base = resolver.resolve(str(output["url"]))
        if output.get("file"):
            base = base.parent()  # a single-file output (a data transfer's file destination)
        # On object stores one listing gives every size and tag (a request per file costs a round trip).
        listed = None if base.local else st.details_below(base)
        for entry in output.get("files", []):
            item = base.child(str(entry["path"]))
            problem = _check_file(item, entry, listed, full)
            if problem is not None:
                problems.append(f"{name}/{entry['path']} {problem}")
    return problems


def _check_file(
    item: st.Location, entry: dict[str, Any], listed: dict[str, dict[str, Any]] | None, full: bool
) -> str | None:
    """Why one recorded file is not usable (None when it is)."""
    if listed is None:
        try:
            info = os.stat(item.path)
        except FileNotFoundError:
            return "is missing"
        size, changed = (
            info.st_size,
            (
                ("mtime_ns" in entry and info.st_mtime_ns != entry["mtime_ns"])
                or ("ctime_ns" in entry and info.st_ctime_ns != entry["ctime_ns"])
            ),
        )
    else:
        details = listed.get(str(entry["path"]))
        if details is None:
            return "is missing"
        tag = str(details.get("ETag") or details.get("etag") or "").strip('"')
        size, changed = int(details.get("size") or 0), bool("etag" in entry and tag and tag != entry["etag"])
    if size != entry["size"]:
        return f"has {size} bytes, manifest says {entry['size']}"
    if changed:
        return "was modified after it was committed (its stamps differ from the manifest's)"
    if full and _digest(item) != entry["sha256"]:
        return "does not match its recorded SHA-256"
    return None


def _digest(item: st.Location) -> str:
    with item.fs.open(item.path, "rb") as fh:
        return stream_digest(fh)


def latest_manifest(
    prefix: str, exclude: str | None = None, storage: Storage | None = None
) -> dict[str, Any] | None:
    """The most recently committed manifest among a step's fingerprints (for explaining a miss)."""
    resolver = storage or _PLAIN
    best: dict[str, Any] | None = None
    for name in st.list_names(resolver.resolve(prefix)):
        if name == exclude:
            continue
        manifest = read_manifest(join(prefix, name), resolver)
        if manifest is not None and (best is None or manifest["created_at"] > best["created_at"]):
            best = manifest
    return best
