"""Step outputs as assets on a real Airflow (``dag.test()``): the events a computed and a reused step emit,
their ``extra``, the inlets and outlets of each task, and the watcher a datastore-watch schedule renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines import settings
from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.txt}}
steps:
  - name: prep
    script: step.py
    source_directory: src
    inputs: [raw]
    arguments: [{{input: raw}}, {{output: clean}}]
    outputs: [clean]
  - name: train
    script: step.py
    source_directory: src
    inputs: [clean]
    arguments: [{{input: clean}}, {{output: model}}]
    outputs: [{{name: model, datastore: local}}]
"""
STEP = """\
import os, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src if os.path.isfile(src) else os.path.join(src, "data.txt")).read()
open(os.path.join(out, "data.txt"), "w").write(data + "+")
"""
WATCHED = """\
name: {name}
parameters:
  data: {{type: string, default: ""}}
schedule:
  datastore: workspaceblobstore
  path_on_datastore: in
  polling_interval: 1
  data_path_parameter_name: data
steps:
  - name: s
    script: step.py
    source_directory: src
    arguments: [{{parameter: data}}, {{output: out}}]
    outputs: [out]
"""


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(text.format(name=name))
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "step.py").write_text(STEP)


def _dag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


def _events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
        return [
            {"task": e.source_task_id, "run": e.source_run_id, "extra": dict(e.extra or {})} for e in rows
        ]


def test_computed_and_reused_steps_emit_their_outputs_events(scratch_dags: Path) -> None:
    name = f"assets_{scratch_dags.name}"[:60]
    _write(scratch_dags, name, DEFINITION)
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "raw.txt").write_text("raw")
    dag = _dag(scratch_dags)
    clean = f"mlpipelines://output/{name}/prep/clean"
    tasks = {t.task_id: t for t in dag.tasks}
    assert [a.uri for a in tasks["prep.run"].inlets] == [f"file://{scratch_dags}/data/raw.txt"]
    assert [a.uri for a in tasks["prep.run"].outlets] == [clean]
    assert [a.uri for a in tasks["train.run"].inlets] == [clean]
    assert [a.name for a in tasks["train.reuse"].outlets] == [f"mlpipelines-reused:{name}.train"]

    first = dag.test()
    assert first.state == "success"
    (computed,) = _events(clean)
    assert computed["task"] == "prep.run"
    extra = computed["extra"]
    assert extra["reused"] is False
    (path,) = Path(settings.datastore_root(), "_manifests", name, "prep").glob("*/manifest.json")
    manifest = json.loads(path.read_text())
    assert extra["fingerprint"] == manifest["fingerprint"]["digest"]
    assert extra["manifest_digest"] == manifest["digest"]
    assert Path(extra["url"], "data.txt").read_text() == "raw+"
    assert extra["produced_by"]["run_id"] == first.run_id

    second = dag.test()
    assert second.state == "success"
    states = {ti.task_id: str(ti.state) for ti in second.get_task_instances()}
    assert states["prep.run"] == "skipped"
    events = _events(clean)
    assert [e["task"] for e in events] == ["prep.run", "prep.reuse"]
    reused = events[1]["extra"]
    assert reused["reused"] is True
    assert reused["run_id"] == second.run_id
    for key in ("url", "fingerprint", "manifest_digest", "produced_by"):
        assert reused[key] == extra[key]
    # The model's output datastore changes nothing: its asset is the logical output.
    assert [e["task"] for e in _events(f"mlpipelines://output/{name}/train/model")] == [
        "train.run",
        "train.reuse",
    ]


def test_a_datastore_watch_renders_an_asset_watcher_that_parses_the_same_every_time(
    scratch_dags: Path,
) -> None:
    from airflow.triggers.base import BaseEventTrigger

    name = f"watch_{scratch_dags.name}"[:60]
    _write(scratch_dags, name, WATCHED)
    hashes = []
    for _ in range(2):
        dag = _dag(scratch_dags)
        (watched,) = dag.timetable.asset_condition.objects
        assert watched.uri == f"mlpipelines://watch/{name}/workspaceblobstore/in"
        assert watched.extra == {"folder": "mlpipelines://datastore/workspaceblobstore/in"}
        (watcher,) = watched.watchers
        classpath, kwargs = watcher.trigger.serialize()
        assert kwargs["polling_seconds"] == 60.0
        assert kwargs["datastore_url"] is None  # the root is only read on the triggerer
        hashes.append(BaseEventTrigger.hash(classpath, kwargs))
    assert hashes[0] == hashes[1]
