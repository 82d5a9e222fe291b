"""Datastore locations: local paths are used in place, remote URLs are staged through a temp folder."""

from __future__ import annotations

import os
import shutil

from airflow.sdk import ObjectStoragePath

from airflow_mlpipelines.paths import datastore_url, join, local_path, safe_segment

__all__ = ["datastore_url", "download", "fresh_local_dir", "join", "local_path", "safe_segment", "upload"]


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
