"""What a DAG run's steps published (their ``mlp_step`` XComs) and what their output folders hold.

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

from airflow_mlpipelines.compute.base import PLAN_KEY
from airflow_mlpipelines.frames.codec import FrameError
from airflow_mlpipelines.frames.preview import FramePreview, preview_parquet
from airflow_mlpipelines.operators.step_base import COMPUTE_TASK_ID, REUSE_TASK_ID, STEP_KEY
from airflow_mlpipelines.operators.storage import local_path

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FRAME_FILE = "data.parquet"
MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""Larger PNGs are listed but not served (a figure is kilobytes; this is a guard, not a limit in use)."""
MAX_IMAGES = 200
PREVIEW_ROWS = 10
PREVIEW_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Published:
    """One step's ``mlp_step`` value in one run, from the task that published it."""

    step: str
    task_id: str
    outputs: dict[str, str]

    @property
    def reused(self) -> bool:
        """Whether the outputs come from an earlier run (published by the reuse sensor)."""
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


def step_of(task_id: str) -> str:
    """The step a task belongs to: ``train.run`` and ``train.reuse`` → ``train``; others unchanged."""
    group, _, leaf = task_id.rpartition(".")
    return group if group and leaf in (COMPUTE_TASK_ID, REUSE_TASK_ID) else task_id


def _decode(raw: Any) -> dict[str, Any] | None:
    """The stored value as a dict, without instantiating anything (a plain JSON object is expected)."""
    value = raw
    for _ in range(2):  # the JSON column may hold the serialised text of the JSON object
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
    if not isinstance(value, dict) or not isinstance(value.get("outputs"), dict):
        return None
    return value


def published_steps(session: Session, dag_id: str, run_id: str, step: str | None = None) -> list[Published]:
    """Each step's published outputs in a run (one step's, with ``step``): ``run`` wins over ``reuse``."""
    from airflow.models.xcom import XComModel

    task_ids = None if step is None else [f"{step}.{COMPUTE_TASK_ID}", f"{step}.{REUSE_TASK_ID}"]
    found: dict[str, Published] = {}
    planned: dict[str, Published] = {}
    # A Docker/Kubernetes step's compute task is the official operator, which pushes nothing of ours: its
    # output folders are those of the plan its reuse sensor handed over (used only without `mlp_step`).
    for key, into in ((STEP_KEY, found), (PLAN_KEY, planned)):
        query = XComModel.get_many(run_id=run_id, key=key, dag_ids=dag_id, task_ids=task_ids)
        for result in session.scalars(query):
            # get_many selects whole rows; depending on the SQLAlchemy result shape a row may come wrapped.
            row: Any = result[0] if isinstance(result, tuple) else result
            value = _decode(row.value)
            if value is None:
                continue
            name = step_of(row.task_id)
            task_id = f"{name}.{COMPUTE_TASK_ID}" if key == PLAN_KEY else row.task_id
            outputs = {str(k): str(v) for k, v in value["outputs"].items()}
            current = into.get(name)
            if current is None or current.reused:
                into[name] = Published(name, task_id, outputs)
    found = {**planned, **found}
    return [found[name] for name in sorted(found)]


def _regular_file(path: str) -> os.stat_result | None:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _png_problem(path: str, size: int) -> str | None:
    if size > MAX_IMAGE_BYTES:
        return f"not shown: {size} bytes is over the {MAX_IMAGE_BYTES}-byte cap"
    try:
        with open(path, "rb") as fh:
            if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                return "not shown: the file is not a PNG image"
    except OSError as exc:
        return f"not shown: {exc.strerror}"
    return None


def list_images(folder: str) -> list[Image]:
    """The ``*.png`` regular files directly in ``folder`` (symbolic links are never followed)."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith(".png"))
    except OSError:
        return []
    images = []
    for name in names[:MAX_IMAGES]:
        path = os.path.join(folder, name)
        info = _regular_file(path)
        if info is not None:
            images.append(Image(name, info.st_size, _png_problem(path, info.st_size)))
    return images


def describe_output(name: str, url: str) -> OutputView:
    """List an output folder's PNGs and preview its ``data.parquet``; remote folders are only named."""
    folder = local_path(url)
    if folder is None:
        return OutputView(
            name, url, problems=["stored at a remote URL: previews of remote outputs are not shown"]
        )
    if not os.path.isdir(folder):
        return OutputView(name, url, problems=["the folder does not exist (any more)"])
    problems = []
    frame = None
    frame_path = os.path.join(folder, FRAME_FILE)
    if _regular_file(frame_path) is not None:
        try:
            frame = preview_parquet(frame_path, rows=PREVIEW_ROWS, max_bytes=PREVIEW_MAX_BYTES)
        except (FrameError, OSError) as exc:
            problems.append(f"{FRAME_FILE}: {exc}")
    return OutputView(name, url, list_images(folder), frame, problems)


def image_path(published: Published, output: str, name: str) -> str | None:
    """The file to serve for ``output``/``name``, or None unless the listing shows it as a servable PNG."""
    url = published.outputs.get(output)
    folder = None if url is None else local_path(url)
    if folder is None:
        return None
    for image in list_images(folder):
        if image.name == name and image.problem is None:
            return os.path.join(folder, image.name)
    return None
