"""Find stored DataFrame files that no XCom row references any more (e.g. after a crash mid-push)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from airflow_mlpipelines import settings
from airflow_mlpipelines.xcom.backend import is_ref


def _referenced(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return str(value["uri"]) if is_ref(value) else None


def referenced_files() -> set[str]:
    """Every file an XCom row in the metadata database points to."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        values = session.scalars(select(XComModel.value)).all()
    return {uri for v in values if (uri := _referenced(v)) is not None}


def orphans(root: str | None = None, older_than_seconds: float = 3600.0) -> list[str]:
    """Stored frame files under ``[mlpipelines] xcom_path`` that no XCom row references.

    Files younger than ``older_than_seconds`` are left out: a task may have written its file and not
    yet recorded the XCom row that points to it.
    """
    base = root or settings.xcom_frames_path()
    if not os.path.isdir(base):
        return []
    used = referenced_files()
    found = []
    for dirpath, _, filenames in os.walk(base):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if path not in used and time.time() - os.path.getmtime(path) >= older_than_seconds:
                found.append(path)
    return sorted(found)
