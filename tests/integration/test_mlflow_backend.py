"""MLflow as the metrics backend (issue 14, item 4) against a real MLflow tracking store (SQLite): one
MLflow run per DAG run, a child per step execution with its metrics, tags and logged images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
parameters:
  lr: 0.1
steps:
  - name: fit
    script: fit.py
    source_directory: src
    arguments: ["${{{{parameters.lr}}}}"]
  - name: broken
    script: broken.py
    source_directory: src
"""
FIT = """\
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from airflow_mlpipelines.core import Run

run = Run.get_context()
for epoch in range(3):
    run.log("accuracy", 0.5 + float(sys.argv[1]) * epoch)
run.log_list("losses", [0.3, 0.2])
run.tag("model", "logreg")
plt.plot([1, 2])
run.log_image("curve", plot=plt)
"""
BROKEN = (
    "from airflow_mlpipelines.core import Run\nRun.get_context().log('partial', 1)\nraise SystemExit(2)\n"
)


def test_each_step_run_is_an_mlflow_child_run_of_its_dag_run(
    scratch_dags: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__METRICS_BACKEND", "mlflow")
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MLFLOW_UI_URL", "https://mlflow.example.com")
    name = "mlflow_backend"
    (scratch_dags / f"{name}.yaml").write_text(DEFINITION.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "fit.py").write_text(FIT)
    (scratch_dags / "src" / "broken.py").write_text(BROKEN)
    (dag,) = DagBag(str(scratch_dags)).dags.values()
    run = dag.test()
    assert run.state == "failed"  # the broken step
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    by_kind: dict[str, list[Any]] = {}
    for found in runs:
        by_kind.setdefault(found.data.tags["mlpipelines.kind"], []).append(found)
    (parent,) = by_kind["pipeline"]
    assert parent.data.tags["mlpipelines.dag_run"] == f"{name}/{run.run_id}"
    children = {r.data.tags["mlpipelines.step"]: r for r in by_kind["step"]}
    fit, broken = children["fit"], children["broken"]
    assert fit.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert fit.data.tags["airflow.task_id"] == "fit.run"
    assert fit.data.tags["airflow.run_id"] == run.run_id
    assert fit.data.tags["user.model"] == "logreg"
    assert fit.data.params == {"lr": "0.1"}
    history = [m.value for m in client.get_metric_history(fit.info.run_id, "accuracy")]
    assert history == [0.5, 0.6, 0.7]
    assert [m.value for m in client.get_metric_history(fit.info.run_id, "losses")] == [0.3, 0.2]
    assert [a.path for a in client.list_artifacts(fit.info.run_id, "images")] == ["images/curve.png"]
    assert fit.info.status == "FINISHED"
    assert broken.info.status == "FAILED"  # a failed attempt's metrics are in MLflow too
    assert broken.data.metrics == {"partial": 1.0}
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "fit.run"]
    ids = ti.xcom_pull(task_ids="fit.run", key="mlp_mlflow_run")
    assert ids["run_id"] == fit.info.run_id
    assert (
        ids["url"]
        == f"https://mlflow.example.com/#/experiments/{experiment.experiment_id}/runs/{fit.info.run_id}"
    )
