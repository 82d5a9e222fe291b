"""Datastore locations: local paths are used in place, remote URLs are staged through a temp folder."""

from __future__ import annotations

import os
import re
import shutil
from typing import TYPE_CHECKING

from airflow.sdk import ObjectStoragePath

from airflow_mlpipelines.reuse.store import join

__all__ = ["datastore_url", "download", "fresh_local_dir", "join", "local_path", "safe_segment", "upload"]

if TYPE_CHECKING:
    from collections.abc import Mapping

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_segment(text: str) -> str:
    """A run id such as ``manual__2026-01-01T00:00:00+00:00`` as one portable path segment."""
    return _UNSAFE.sub("_", text).strip("_") or "run"


def datastore_url(name: str, declared: Mapping[str, str | None], root: str) -> str:
    """URL of a named datastore: its declared URL, else ``<root>/<name>``."""
    url = declared.get(name)
    return url if url else f"{root.rstrip('/')}/{name}"


def local_path(url: str) -> str | None:
    """The local filesystem path of ``url``, or None when it lives on remote object storage."""
    if "://" not in url:
        return os.path.abspath(url)
    if url.startswith("file://"):
        return url[len("file://") :]
    return None


def fresh_local_dir(path: str) -> str:
    """Empty ``path`` (left over from an earlier try of this same run) and create it."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    return path


def download(url: str, dest: str) -> str:
    """Copy a remote file or folder to ``dest`` and return the local path."""
    src = ObjectStoragePath(url)
    target = ObjectStoragePath(f"file://{dest}")
    src.copy(target, recursive=src.is_dir())
    return dest


def upload(src: str, url: str) -> None:
    """Copy a local folder to a remote URL."""
    ObjectStoragePath(f"file://{src}").copy(ObjectStoragePath(url), recursive=True)
