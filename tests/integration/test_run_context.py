"""``Run.get_context()`` in step scripts (issue 14, items 1, 2 and 6) on a real Airflow (``dag.test()``):
what scripts log is committed as the run's record with the outputs, kept for failed attempts, and bad
input is a clear error; outside a pipeline the run is offline, as in SDK v1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.csv, kind: tabular}}
steps:
  - name: train
    script: train.py
    source_directory: src
    inputs: [raw]
    arguments: [{{output: model}}, "{mode}"]
    outputs: [model]
  - name: score
    type: execute_python_script
    dataframe1: raw
    script: |
      from airflow_mlpipelines.core import Run
      def azureml_main(df, _=None):
          Run.get_context().log("rows_seen", len(df))
          return df
"""

TRAIN = """\
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from airflow_mlpipelines.core import Run

run = Run.get_context()
out, mode = sys.argv[1], sys.argv[2]
frame = run.input_datasets["raw"].to_pandas_dataframe()
for epoch, accuracy in enumerate([0.5, 0.7, 0.9]):
    run.log("accuracy", accuracy)
run.log("rows", len(frame))
run.log_list("losses", [0.3, 0.2, 0.1])
run.log_row("per_class", label="a", recall=0.8)
run.log_row("per_class", label="b", recall=0.6)
run.log_table("confusion", {"actual": [0, 1], "predicted": [0, 0]})
plt.plot([1, 2, 3])
run.log_image("curve", plot=plt)
run.tag("model", "logreg")
open(os.path.join(out, "model.txt"), "w").write("m")
run.upload_file("outputs/model.txt", os.path.join(out, "model.txt"))
print("parent", run.parent.id, "experiment", run.experiment.name, "id", run.id)
assert run.get_metrics()["accuracy"] == [0.5, 0.7, 0.9]
if mode == "fail":
    print("giving up: accuracy too low", file=sys.stderr)
    sys.exit(3)
if mode == "nan":
    run.log("loss", float("nan"))
"""


def _pipeline(folder: Path, name: str, mode: str = "ok") -> Path:
    (folder / f"{name}.yaml").write_text(DEFINITION.format(name=name, mode=mode))
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "train.py").write_text(TRAIN)
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "raw.csv").write_text("x,y\n1,2\n3,4\n5,6\n")
    return folder


def _run(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag.test()


def _manifest(run: Any, step: str) -> dict[str, Any]:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == f"{step}.reuse"]
    plan = ti.xcom_pull(task_ids=f"{step}.reuse", key="mlp_plan")
    manifest: dict[str, Any] = json.loads((Path(plan["manifest"]) / "manifest.json").read_text())
    return manifest


def _records(run: Any, step: str) -> list[dict[str, Any]]:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == f"{step}.reuse"]
    plan = ti.xcom_pull(task_ids=f"{step}.reuse", key="mlp_plan")
    runs = Path(plan["manifest"]) / "runs"
    return [json.loads((p / "run.json").read_text()) for p in sorted(runs.iterdir())] if runs.exists() else []


def test_metrics_images_tags_and_files_are_committed_with_the_outputs(scratch_dags: Path) -> None:
    run = _run(_pipeline(scratch_dags, "run_ctx_ok"))
    assert run.state == "success"
    manifest = _manifest(run, "train")
    record_dir = Path(manifest["run_record"])
    record = json.loads((record_dir / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["metrics"]["accuracy"] == [0.5, 0.7, 0.9]
    assert record["latest"] == {"accuracy": 0.9, "rows": 3}
    assert record["metrics"]["losses"] == [0.3, 0.2, 0.1]
    assert record["metrics"]["per_class"] == [{"label": "a", "recall": 0.8}, {"label": "b", "recall": 0.6}]
    assert record["metrics"]["confusion"] == {"actual": [0, 1], "predicted": [0, 0]}
    assert record["tags"] == {"model": "logreg"}
    assert record["images"] == ["curve.png"]
    assert (record_dir / "images" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (record_dir / "files" / "outputs" / "model.txt").read_text() == "m"
    assert record["source_digest"] == manifest["fingerprint"]["components"]["source"]
    assert record["git"] is None  # the scratch folder is not a repository
    assert record["id"].startswith("run_ctx_ok_")
    # The summary is the compute task's XCom (other tasks and the REST API read it).
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "train.run"]
    assert ti.xcom_pull(task_ids="train.run", key="mlp_metrics") == {"accuracy": 0.9, "rows": 3}
    # Execute Python Script steps have the same run.
    score = json.loads((Path(_manifest(run, "score")["run_record"]) / "run.json").read_text())
    assert score["latest"] == {"rows_seen": 3}
    # A reused step shows the record of the run it reused.
    again = _run(scratch_dags)
    assert _manifest(again, "train")["run_record"] == manifest["run_record"]


def test_what_a_failed_attempt_logged_is_kept(scratch_dags: Path) -> None:
    run = _run(_pipeline(scratch_dags, "run_ctx_fail", mode="fail"))
    assert run.state == "failed"
    (record,) = _records(run, "train")
    assert record["status"] == "failed"
    assert record["metrics"]["accuracy"] == [0.5, 0.7, 0.9]
    assert record["stderr_tail"] == ["giving up: accuracy too low"]  # stdout is not in it


def test_a_nan_metric_fails_the_step_naming_it(scratch_dags: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run = _run(_pipeline(scratch_dags, "run_ctx_nan", mode="nan"))
    assert run.state == "failed"
    assert (
        "metric 'loss': nan cannot be recorded (NaN and infinity are not numbers)" in capfd.readouterr().out
    )
    (record,) = _records(run, "train")
    assert record["latest"]["accuracy"] == 0.9  # logged before the bad value: not lost


def test_outside_a_pipeline_the_run_is_offline(tmp_path: Path) -> None:
    script = tmp_path / "by_hand.py"
    script.write_text(
        "from airflow_mlpipelines.core import Run\n"
        "run = Run.get_context()\n"
        "print(run.id)\n"
        "run.log('accuracy', 0.9)\n"
        "print(run.get_metrics())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLP_RUN_CONTEXT"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OfflineRun_")
    assert "Attempted to log scalar metric accuracy:" in done.stdout
    assert lines[-1] == "{}"


def test_bad_calls_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_mlpipelines.core import Run, RunError

    (tmp_path / "record").mkdir()
    context = {"id": "r1", "step": "s", "pipeline": "p", "record": str(tmp_path / "record"),
               "inputs": {"raw": {"path": str(tmp_path), "kind": "file"}}}  # fmt: skip
    (tmp_path / "ctx.json").write_text(json.dumps(context))
    monkeypatch.setenv("MLP_RUN_CONTEXT", str(tmp_path / "ctx.json"))
    run = Run.get_context()
    with pytest.raises(RunError, match=r"metric 'm': \[1\] is not a number"):
        run.log("m", [1])
    with pytest.raises(RunError, match="NaN and infinity are not numbers"):
        run.log_list("l", [1.0, float("inf")])
    with pytest.raises(KeyError, match=r"no input dataset 'rwa' \(this step's: raw\); did you mean 'raw'\?"):
        run.input_datasets["rwa"]
    with pytest.raises(RunError, match=r"the image .*nope.png does not exist"):
        run.log_image("i", path=str(tmp_path / "nope.png"))
    assert run.input_datasets["raw"] == str(tmp_path)
    assert run.get_metrics() == {}


def test_logging_is_cheap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Functional check of the hot path (the timing goal lives in benchmarks/run_metrics.py)."""
    from airflow_mlpipelines.core import Run

    (tmp_path / "record").mkdir()
    (tmp_path / "ctx.json").write_text(json.dumps({"id": "r", "record": str(tmp_path / "record")}))
    monkeypatch.setenv("MLP_RUN_CONTEXT", str(tmp_path / "ctx.json"))
    run = Run.get_context()
    for i in range(1000):
        run.log("loss", 1.0 / (i + 1))
    assert len(run.get_metrics()["loss"]) == 1000
