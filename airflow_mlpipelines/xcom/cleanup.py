"""Find (and delete) stored XCom values that no XCom row references any more, on local or object storage.

Airflow deletes a task's XCom rows when it is cleared, when its run is deleted, or by ``airflow db clean``
— but its server-side clears do not call the backend's ``purge``, so the files stay. An orphan here is a
file under ``[mlpipelines] xcom_path`` that (1) no XCom row references, (2) is older than a minimum age (a
task may have written its file and not yet recorded the row), and (3) does not belong to a DAG run that is
still queued or running (a task of that run may be about to record or read it). Listing is the default;
deleting is explicit (``mlpipelines xcom-orphans --delete``, or the example DAG ``mlpipelines_maintenance``).
"""

from __future__ import annotations

import datetime
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import settings
from airflow_mlpipelines import storage as st
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.paths import safe_segment
from airflow_mlpipelines.xcom.backend import is_ref

if TYPE_CHECKING:
    from airflow_mlpipelines.storage import Storage


@dataclass(frozen=True)
class Orphan:
    """A stored value no XCom row references: where it is, its size, its age in seconds."""

    url: str
    size: int
    age_seconds: float


def _referenced(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return str(value["uri"]) if is_ref(value) else None


def _normal(url: str) -> str:
    return os.path.normpath(url) if "://" not in url else url.rstrip("/")


def referenced_files() -> set[str]:
    """Every stored value an XCom row in the metadata database points to."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        values = session.scalars(select(XComModel.value)).all()
    return {_normal(uri) for v in values if (uri := _referenced(v)) is not None}


def active_runs() -> set[tuple[str, str]]:
    """(dag segment, run segment) of every DAG run still queued or running, as stored paths spell them."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(DagRun.dag_id, DagRun.run_id).where(
                DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING])
            )
        ).all()
    return {(safe_segment(dag_id), safe_segment(run_id)) for dag_id, run_id in rows}


def _age(details: dict[str, Any], path: str, local: bool, now: float) -> float:
    if local:
        return now - os.path.getmtime(path)
    modified = details.get("LastModified") or details.get("mtime") or details.get("last_modified")
    if isinstance(modified, datetime.datetime):
        return now - modified.timestamp()
    return 0.0  # unknown age: treated as new, so never deleted


def orphans(
    root: str | None = None, older_than_seconds: float = 3600.0, storage: Storage | None = None
) -> list[Orphan]:
    """Stored values under ``root`` (default ``[mlpipelines] xcom_path``) that are orphans (see the
    module docstring)."""
    base = (storage or AirflowStorage()).resolve(root or settings.xcom_frames_path())
    listed = st.details_below(base)
    if not listed:
        return []
    used, running, now = referenced_files(), active_runs(), time.time()
    found = []
    for rel, details in sorted(listed.items()):
        item = base.child(rel)
        parts = rel.split("/")
        if len(parts) >= 2 and (parts[0], parts[1]) in running:
            continue
        if _normal(item.url) in used or _normal(item.path) in used:
            continue
        age = _age(details, item.path, base.local, now)
        if age >= older_than_seconds:
            found.append(Orphan(item.url, int(details.get("size") or 0), age))
    return found


def delete(found: list[Orphan], storage: Storage | None = None) -> int:
    """Delete the given orphans; returns how many were deleted (one already gone counts as deleted)."""
    resolver = storage or AirflowStorage()
    for orphan in found:
        st.remove(resolver.resolve(orphan.url))
    return len(found)
