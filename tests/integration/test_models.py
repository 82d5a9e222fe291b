"""Registered models (issue 18, item 4) on a real Airflow (``dag.test()``): a training step registers
its model with ``Run.get_context().register_model(...)``; a notebook finds, lists and downloads it
with ``Model``; a second pipeline consumes it as an input, reused while the version is unchanged and
re-run when a new version is registered; ``Model.get_model_path`` works inside a step's script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

TRAIN_YAML = """\
name: {name}
parameters:
  quality: "0.5"
steps:
  - name: train
    script: train.py
    source_directory: src
    arguments: [{{output: trained}}, "${{{{parameters.quality}}}}", {model}]
    outputs: [trained]
"""

TRAIN = """\
import os, sys
from airflow_mlpipelines.core import Run

run = Run.get_context()
out, quality, name = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(out, "model.txt")
with open(path, "w") as fh:
    fh.write("weights-" + quality)
run.log("quality", float(quality))
run.upload_file("outputs/model.txt", path)
model = run.register_model(name, "outputs/model.txt", tags={"quality": quality}, description="trained")
print("registered", model.name, model.version, model.id)
"""

SCORE_YAML = """\
name: {name}
models:
  latest: {model}
  pinned: {model}:1
steps:
  - name: score_latest
    script: score.py
    source_directory: src
    inputs: [latest]
    arguments: [{{input: latest}}, {{output: scored}}, {model}]
    outputs: [scored]
  - name: score_pinned
    script: score.py
    source_directory: src
    inputs: [pinned]
    arguments: [{{input: pinned}}, {{output: scored_pinned}}, {model}, "1"]
    outputs: [scored_pinned]
"""

SCORE = """\
import os, sys
from airflow_mlpipelines.core import Model

staged, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
version = int(sys.argv[4]) if len(sys.argv) > 4 else None
found = Model.get_model_path(name, version=version)
with open(os.path.join(out, "score.txt"), "w") as fh:
    fh.write(open(staged).read() + "|" + open(found).read())
"""


def _write(folder: Path, name: str, definition: str, script: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(definition)
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / script).write_text(text)


def _run(folder: Path, dag_id: str, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return run, states


def _output(run: Any, step: str, output: str) -> str:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == f"{step}.reuse"]
    plan = ti.xcom_pull(task_ids=f"{step}.reuse", key="mlp_plan")
    return (Path(plan["outputs"][output]) / "score.txt").read_text()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "models"
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MODEL_REGISTRY", str(root))
    return root


def test_train_registers_a_notebook_finds_it_and_a_consumer_reruns_only_for_a_new_version(
    scratch_dags: Path, registry: Path, tmp_path: Path
) -> None:
    from airflow_mlpipelines.core import Model, ModelNotFoundError
    from airflow_mlpipelines.pipeline import Workspace

    ws = Workspace.from_config()
    _write(scratch_dags, "mtrain", TRAIN_YAML.format(name="mtrain", model="clf"), "train.py", TRAIN)
    run, states = _run(scratch_dags, "mtrain")
    assert run.state == "success", states

    model = Model(ws, "clf")
    assert (model.name, model.version, model.id) == ("clf", 1, "clf:1")
    assert model.tags == {"quality": "0.5"}
    assert model.description == "trained"
    assert model.run_id is not None
    assert model.run_id.startswith("mtrain_")
    record = json.loads((registry / "clf" / "1" / "model.json").read_text())
    assert record["run"]["step"] == "train"
    assert record["run"]["run_id"] == run.run_id
    assert record["files"][0]["path"] == "model.txt"
    # The step run's record lists what it registered.
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "train.reuse"]
    plan = ti.xcom_pull(task_ids="train.reuse", key="mlp_plan")
    manifest = json.loads((Path(plan["manifest"]) / "manifest.json").read_text())
    run_json = json.loads((Path(manifest["run_record"]) / "run.json").read_text())
    assert [(m["name"], m["version"]) for m in run_json["models"]] == [("clf", 1)]
    # A reused training step registers nothing new (it did not run).
    _again, states = _run(scratch_dags, "mtrain")
    assert states["train.run"] == "skipped"
    assert [m.version for m in Model.list(ws, name="clf")] == [1]

    # A second pipeline consumes the model: the latest version and a pinned one.
    _write(scratch_dags, "mscore", SCORE_YAML.format(name="mscore", model="clf"), "score.py", SCORE)
    first, states = _run(scratch_dags, "mscore")
    assert first.state == "success", states
    assert _output(first, "score_latest", "scored") == "weights-0.5|weights-0.5"
    _same, states = _run(scratch_dags, "mscore")
    assert (states["score_latest.run"], states["score_pinned.run"]) == ("skipped", "skipped")

    # Training with another quality registers version 2: the latest consumer re-runs, the pinned one not.
    trained, states = _run(scratch_dags, "mtrain", {"quality": "0.9"})
    assert trained.state == "success", states
    assert [m.version for m in Model.list(ws, name="clf")] == [2, 1]
    assert [m.id for m in Model.list(ws, tags=[["quality", "0.9"]])] == ["clf:2"]
    assert Model.list(ws, name="clf", latest=True)[0].version == 2
    after, states = _run(scratch_dags, "mscore")
    assert after.state == "success", states
    assert states["score_latest.run"] == "success"
    assert states["score_pinned.run"] == "skipped"
    assert _output(after, "score_latest", "scored") == "weights-0.9|weights-0.9"
    assert _output(after, "score_pinned", "scored_pinned") == "weights-0.5|weights-0.5"

    # A notebook downloads a version; unknown names and versions say what exists.
    target = tmp_path / "download"
    path = Model(ws, "clf", version=1).download(str(target))
    assert Path(path).read_text() == "weights-0.5"
    with pytest.raises(Exception, match="exists already"):
        Model(ws, "clf", version=1).download(str(target))
    assert Path(Model(ws, id="clf:1").download(str(target), exist_ok=True)).read_text() == "weights-0.5"
    with pytest.raises(ModelNotFoundError, match=r"no model 'clf' version 7 .*its versions: 1, 2"):
        Model(ws, "clf", version=7)
    with pytest.raises(ModelNotFoundError, match="registered models: clf"):
        Model(ws, "cfl")


def test_a_notebook_registration_is_a_new_version_a_consumer_picks_up(
    scratch_dags: Path, registry: Path, tmp_path: Path
) -> None:
    from airflow_mlpipelines.core import Model
    from airflow_mlpipelines.pipeline import Workspace

    ws = Workspace.from_config()
    folder = tmp_path / "model_dir"
    folder.mkdir()
    (folder / "model.txt").write_text("v1")
    (folder / "vocab.txt").write_text("words")
    first = Model.register(ws, str(folder), "nb", tags={"stage": "dev"}, properties={"auc": 0.8})
    assert (first.version, first.properties) == (1, {"auc": "0.8"})
    score = SCORE.replace("open(staged).read()", "open(os.path.join(staged, 'model.txt')).read()").replace(
        "open(found).read()", "open(os.path.join(found, 'vocab.txt')).read()"
    )
    definition = SCORE_YAML.format(name="mscore_nb", model="nb").split("  - name: score_pinned")[0]
    _write(scratch_dags, "mscore_nb", definition, "score.py", score)
    run, states = _run(scratch_dags, "mscore_nb")
    assert run.state == "success", states
    assert _output(run, "score_latest", "scored") == "v1|words"

    (folder / "model.txt").write_text("v2")
    assert Model.register(ws, str(folder), "nb").version == 2
    run, states = _run(scratch_dags, "mscore_nb")
    assert states["score_latest.run"] == "success"
    assert _output(run, "score_latest", "scored") == "v2|words"
    # Registering identical files again is a new version with the same digest: the consumer is reused.
    third = Model.register(ws, str(folder), "nb")
    assert third.version == 3
    assert third.digest == Model(ws, "nb", version=2).digest
    run, states = _run(scratch_dags, "mscore_nb")
    assert states["score_latest.run"] == "skipped"


def test_an_unknown_model_input_fails_the_step_naming_the_versions(
    scratch_dags: Path, registry: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_mlpipelines.core import Model
    from airflow_mlpipelines.pipeline import Workspace

    src = scratch_dags / "m.txt"
    src.write_text("m")
    Model.register(Workspace.from_config(), str(src), "known")
    definition = SCORE_YAML.format(name="mscore_bad", model="known").replace("known:1", "known:5")
    _write(scratch_dags, "mscore_bad", definition, "score.py", SCORE)
    run, states = _run(scratch_dags, "mscore_bad")
    assert run.state == "failed"
    assert states["score_pinned.reuse"] == "failed"
    assert states["score_latest.run"] == "success"
    out, err = capfd.readouterr()
    assert "input 'pinned': no model 'known' version 5 in the registry" in out + err
    assert "its versions: 1" in out + err
