"""What a DAG run's steps published and what their output folders hold, read on the API server.

A step is published when :func:`runtime.publication.find` says so: its reuse task's plan (XCom
``mlp_plan``, read as raw JSON, never through the XCom backend) names a committed manifest with the
plan's fingerprint, and — when the plan was to run — its compute task succeeded. Output folders are
read through the storage layer with the API server's Airflow connections, so outputs on object storage
show as well as local ones.

Only files the listing finds are ever served: ``*.png`` files directly in an output folder (regular
files, not links, with a PNG signature, under a size cap) and ``data.parquet`` previews. A request names
an output and a file *name*; both are looked up in these listings, never joined blindly onto a path.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.exceptions import FrameError, PlanError, StorageError
from airflow_mlpipelines.frames.preview import FramePreview, preview_parquet
from airflow_mlpipelines.runtime import publication
from airflow_mlpipelines.runtime.plan import (
    COMPUTE_TASK_ID,
    PLAN_KEY,
    REUSE_TASK_ID,
    StepPlan,
    step_of,
    task_id,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from airflow_mlpipelines.storage import Location, Storage

__all__ = ["Image", "OutputView", "Published", "describe_output", "image_bytes", "list_images", "step_of"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FRAME_FILE = "data.parquet"
MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""Larger PNGs are listed but not served (a figure is kilobytes; this is a guard, not a limit in use)."""
MAX_IMAGES = 200
PREVIEW_ROWS = 10
PREVIEW_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Published:
    """One step's published outputs in one run, and the task that stands for them."""

    step: str
    task_id: str
    outputs: dict[str, str]
    run_record: str | None = None
    """URL of the run record the manifest names (the run that computed the outputs)."""

    @property
    def reused(self) -> bool:
        """Whether the outputs come from an earlier run (the reuse task's hit)."""
        return self.task_id.endswith(f".{REUSE_TASK_ID}")


@dataclass(frozen=True)
class Image:
    """A PNG in an output folder; ``problem`` says why it is not shown, if it is not."""

    name: str
    size: int
    problem: str | None = None


@dataclass(frozen=True)
class OutputView:
    """One output of a step: its location, its PNGs and its DataFrame preview."""

    name: str
    url: str
    images: list[Image] = field(default_factory=list)
    frame: FramePreview | None = None
    problems: list[str] = field(default_factory=list)


def _decode(raw: Any) -> dict[str, Any] | None:
    """The stored value as a dict, without instantiating anything (a plain JSON object is expected)."""
    value = raw
    for _ in range(2):  # the JSON column may hold the serialised text of the JSON object
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
    return value if isinstance(value, dict) else None


def _rows(session: Session, dag_id: str, run_id: str, key: str, task_ids: list[str] | None) -> list[Any]:
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id, task_ids=task_ids)
    # get_many selects whole rows; depending on the SQLAlchemy result shape a row may come wrapped.
    return [result[0] if isinstance(result, tuple) else result for result in session.scalars(query)]


def _compute_states(session: Session, dag_id: str, run_id: str) -> dict[str, str | None]:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    query = select(TaskInstance.task_id, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
    )
    return {
        step_of(t): (str(s) if s is not None else None)
        for t, s in session.execute(query)
        if t.endswith(f".{COMPUTE_TASK_ID}")
    }


def published_steps(
    session: Session,
    dag_id: str,
    run_id: str,
    step: str | None = None,
    storage: Storage | None = None,
) -> list[Published]:
    """Each step's publication in a run (one step's, with ``step``), from plans and manifests."""
    storage = storage or AirflowStorage()
    task_ids = None if step is None else [task_id(step, REUSE_TASK_ID)]
    states = _compute_states(session, dag_id, run_id)
    found: dict[str, Published] = {}
    for row in _rows(session, dag_id, run_id, PLAN_KEY, task_ids):
        value = _decode(row.value)
        if value is None:
            continue
        try:
            plan = StepPlan.from_json(value)
        except PlanError:
            continue
        pub, _ = publication.find(plan, storage, compute_state=states.get(plan.step, "none"))
        if pub is not None:
            record = pub.manifest.get("run_record")
            found[plan.step] = Published(
                plan.step, pub.task_id, dict(pub.outputs), str(record) if record else None
            )
    return [found[name] for name in sorted(found)]


def _regular_file(path: str) -> os.stat_result | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _signature(loc: Location) -> bytes:
    with loc.fs.open(loc.path, "rb") as fh:
        head: bytes = fh.read(len(PNG_SIGNATURE))
        return head


def _png_problem(loc: Location, size: int) -> str | None:
    if size > MAX_IMAGE_BYTES:
        return f"not shown: {size} bytes is over the {MAX_IMAGE_BYTES}-byte cap"
    try:
        if _signature(loc) != PNG_SIGNATURE:
            return "not shown: the file is not a PNG image"
    except OSError as exc:
        return f"not shown: {exc.strerror or exc}"
    return None


def _file_size(loc: Location) -> int | None:
    """Size of a regular file (local symbolic links and special files are never followed)."""
    if loc.local:
        info = _regular_file(loc.path)
        return None if info is None else info.st_size
    details = st.info(loc)
    return int(details["size"]) if details and details.get("type", "file") == "file" else None


def list_images(folder: str | Location, storage: Storage | None = None) -> list[Image]:
    """The ``*.png`` regular files directly in ``folder`` (symbolic links are never followed)."""
    loc = (storage or AirflowStorage()).resolve(folder) if isinstance(folder, str) else folder
    try:
        names = [n for n in st.list_names(loc) if n.lower().endswith(".png")]
    except StorageError:
        return []
    images = []
    for name in names[:MAX_IMAGES]:
        item = loc.child(name)
        size = _file_size(item)
        if size is not None:
            images.append(Image(name, size, _png_problem(item, size)))
    return images


def describe_output(name: str, url: str, storage: Storage | None = None) -> OutputView:
    """List an output folder's PNGs and preview its ``data.parquet``, on local disk or object storage."""
    storage = storage or AirflowStorage()
    try:
        loc = storage.resolve(url)
        if not st.exists(loc):
            return OutputView(name, url, problems=["the folder does not exist (any more)"])
    except StorageError as exc:
        return OutputView(name, url, problems=[str(exc)])
    problems = []
    frame = None
    frame_loc = loc.child(FRAME_FILE)
    if _file_size(frame_loc) is not None:
        try:
            frame = preview_parquet(
                frame_loc.path,
                rows=PREVIEW_ROWS,
                max_bytes=PREVIEW_MAX_BYTES,
                fs=None if frame_loc.local else frame_loc.fs,
            )
        except (FrameError, OSError) as exc:
            problems.append(f"{FRAME_FILE}: {exc}")
    return OutputView(name, url, list_images(loc), frame, problems)


def image_bytes(published: Published, output: str, name: str, storage: Storage | None = None) -> bytes | None:
    """The PNG to serve for ``output``/``name``, or None unless the listing shows it as a servable PNG."""
    url = published.outputs.get(output)
    if url is None:
        return None
    loc = (storage or AirflowStorage()).resolve(url)
    for image in list_images(loc):
        if image.name == name and image.problem is None:
            return st.read_bytes(loc.child(image.name))
    return None


def read_record(published: Published, storage: Storage | None = None) -> dict[str, Any] | None:
    """The run record of a published step (None when it has none or it cannot be read)."""
    from airflow_mlpipelines.runtime import run_record

    if published.run_record is None:
        return None
    try:
        return run_record.read(published.run_record, storage or AirflowStorage())
    except (StorageError, ValueError):
        return None


def record_image(published: Published, name: str, storage: Storage | None = None) -> bytes | None:
    """A PNG the run logged with ``log_image``; only names the record lists, with a PNG signature."""
    record = read_record(published, storage)
    if record is None or published.run_record is None or name not in record.get("images", []):
        return None
    storage = storage or AirflowStorage()
    data = st.read_bytes(storage.resolve(f"{published.run_record.rstrip('/')}/images/{name}"))
    if data is None or not data.startswith(PNG_SIGNATURE) or len(data) > MAX_IMAGE_BYTES:
        return None
    return data


def dag_run_ids(session: Session, dag_id: str, limit: int = 50) -> list[str]:
    """The DAG's latest runs, oldest first (the order a metric's line chart reads)."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    query = select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(limit)
    return list(reversed([str(r) for r in session.scalars(query)]))
