"""Every example runs with ``dag.test()`` on a real Airflow (SQLite) and writes the expected outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _run(examples_dags: Path, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(examples_dags)).dags[dag_id]
    return dag.test(run_conf=conf)


def _output(home: Path, dag_id: str, step: str, run_id: str, output: str) -> Path:
    """``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>`` of the run that computed it."""
    from airflow_mlpipelines.paths import safe_segment

    step_dir = home / "mlpipelines" / "datastore" / "workspaceblobstore" / dag_id / step
    (found,) = step_dir.glob(f"*/{safe_segment(run_id)}/{output}")
    return found


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.mark.usefixtures("airflow_db")
class TestExamplesRun:
    def test_seed004_yaml(self, examples_dags: Path, airflow_home: Path) -> None:
        run = _run(examples_dags, "seed004_yaml")
        assert run.state == "success", _states(run)
        assert set(_states(run).values()) == {"success"}
        prepped = _output(airflow_home, "seed004_yaml", "prepare", run.run_id, "prepped_data") / "prepped.csv"
        lines = prepped.read_text().splitlines()
        assert lines[0] == "sepal_length,sepal_width,petal_length,petal_width,label"
        assert len(lines) == 61
        comparison = json.loads(
            (
                _output(airflow_home, "seed004_yaml", "compare", run.run_id, "comparison") / "comparison.json"
            ).read_text()
        )
        assert set(comparison["scores"]) == {"training_results", "baseline_results"}
        assert comparison["best"] == "training_results"

    def test_seed004_sdk(self, examples_dags: Path, airflow_home: Path) -> None:
        run = _run(examples_dags, "seed004_sdk")
        assert run.state == "success", _states(run)
        model = _output(airflow_home, "seed004_sdk", "train", run.run_id, "training_results") / "model.json"
        assert json.loads(model.read_text())["accuracy"] > 0.8

    def test_fan_out_in(self, examples_dags: Path, airflow_home: Path) -> None:
        run = _run(examples_dags, "fan_out_in")
        assert run.state == "success", _states(run)
        result = _output(airflow_home, "fan_out_in", "compare", run.run_id, "comparison") / "comparison.json"
        assert set(json.loads(result.read_text())["scores"]) == {"model_a", "model_b", "model_c"}

    def test_parameterised_with_conf(self, examples_dags: Path, airflow_home: Path) -> None:
        run = _run(examples_dags, "parameterised", {"shrink": 0.4, "run_label": "adhoc", "epochs": 7})
        assert run.state == "success", _states(run)
        report = _output(airflow_home, "parameterised", "report", run.run_id, "report") / "report.json"
        assert json.loads(report.read_text()) | {"accuracy": None} == {
            "label": "adhoc",
            "epochs": 7,
            "shrink": 0.4,
            "accuracy": None,
        }

    def test_parameterised_defaults(self, examples_dags: Path, airflow_home: Path) -> None:
        run = _run(examples_dags, "parameterised")
        assert run.state == "success", _states(run)
        report = _output(airflow_home, "parameterised", "report", run.run_id, "report") / "report.json"
        data = json.loads(report.read_text())
        assert (data["label"], data["epochs"], data["shrink"]) == ("nightly", 3, 0.1)


@pytest.mark.usefixtures("airflow_db")
class TestExecutePythonScriptExamples:
    """Seeds 000/003's examples (issue 5) on a real Airflow: outputs where the UI plugin looks for them."""

    def test_hello_bundle(self, examples_dags: Path, airflow_home: Path) -> None:
        import pandas as pd

        run = _run(examples_dags, "eps_hello")
        assert run.state == "success", _states(run)
        greeted = pd.read_parquet(
            _output(airflow_home, "eps_hello", "hello", run.run_id, "greeted") / "data.parquet"
        )
        assert len(greeted) == 60
        assert set(greeted["greeting"]) == {"Hello, World!"}
        count = _output(airflow_home, "eps_hello", "count", run.run_id, "row_count") / "count.json"
        assert json.loads(count.read_text()) == {"rows": 60, "greetings": ["Hello, World!"]}
        (hello,) = [ti for ti in run.get_task_instances() if ti.task_id == "hello.run"]
        # The return value is stored by DataFrameXComBackend: the row holds a typed reference to a file.
        from airflow_mlpipelines.frames import codec
        from airflow_mlpipelines.xcom.backend import is_ref

        ref = hello.xcom_pull(task_ids="hello.run")
        assert is_ref(ref), ref
        assert ref["preview"]["shape"] == [60, 6]
        assert codec.read(ref["uri"], ref["format"]).equals(greeted)

    def test_scatter_matrix(self, examples_dags: Path, airflow_home: Path) -> None:
        import pandas as pd

        run = _run(examples_dags, "eps_scatter")
        assert run.state == "success", _states(run)
        plots = _output(airflow_home, "eps_scatter", "scatter", run.run_id, "scatter_plots")
        assert [p.name for p in plots.iterdir()] == ["scatter.png"]
        assert (plots / "scatter.png").read_bytes()[:4] == b"\x89PNG"
        summary = pd.read_parquet(
            _output(airflow_home, "eps_scatter", "scatter", run.run_id, "feature_summary") / "data.parquet"
        )
        assert summary["feature"].tolist() == ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    def test_feature_importance(self, examples_dags: Path, airflow_home: Path) -> None:
        import pandas as pd

        run = _run(examples_dags, "eps_features")
        assert run.state == "success", _states(run)
        ranked = pd.read_parquet(
            _output(airflow_home, "eps_features", "rank_features", run.run_id, "ranked_features")
            / "data.parquet"
        )
        assert len(ranked) == 10
        assert ranked["rank"].tolist() == list(range(1, 11))
        assert ranked["score"].is_monotonic_decreasing
        assert abs(ranked["score"].sum() - 1.0) < 1e-9
        plots = _output(airflow_home, "eps_features", "rank_features", run.run_id, "importance_plots")
        assert [p.name for p in plots.iterdir()] == ["figure_1.png"]  # left open by the script


@pytest.mark.usefixtures("airflow_db")
def test_data_transfer_example(
    examples_dags: Path, airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    database = tmp_path / "examples.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "CREATE TABLE measurements (sepal_length REAL, sepal_width REAL, petal_length REAL, "
            "petal_width REAL, label INTEGER)"
        )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLP_EXAMPLES_DB", json.dumps({"conn_type": "sqlite", "host": str(database)})
    )
    run = _run(examples_dags, "data_transfer")
    assert run.state == "success", _states(run)
    with sqlite3.connect(database) as db:
        (rows,) = db.execute("SELECT count(*) FROM measurements").fetchone()
        (positives,) = db.execute("SELECT count(*) FROM measurements WHERE label = 1").fetchone()
    assert rows == 60
    published = examples_dags / "definitions" / "published" / "iris" / "summary" / "summary.json"
    summary = json.loads(published.read_text())
    assert summary["rows"] == positives > 0
    assert set(summary["means"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    again = _run(examples_dags, "data_transfer")  # nothing changed: every step reused, nothing loaded twice
    assert again.state == "success"
    assert {t for t, s in _states(again).items() if t.endswith(".run") and s == "success"} == set()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM measurements").fetchone() == (60,)
