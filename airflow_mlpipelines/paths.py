"""Pure path and URL helpers shared by every layer (no I/O, no Airflow)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def join(url: str, *parts: str) -> str:
    """Join path segments onto a local path or URL without normalising away the scheme."""
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts if p)])


def safe_segment(text: str) -> str:
    """A run id such as ``manual__2026-01-01T00:00:00+00:00`` as one portable path segment."""
    return _UNSAFE.sub("_", text).strip("_") or "run"


RUN_ID_PLACEHOLDER = "{run-id}"
"""In an output's fixed destination (SDK v1's ``OutputFileDatasetConfig``): the run's id, as one segment."""


def expand_destination(path: str, run_id: str) -> str:
    """A fixed output destination with ``{run-id}`` replaced by the run's id (as a safe path segment)."""
    return path.replace(RUN_ID_PLACEHOLDER, safe_segment(run_id))


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
