"""Execute Python Script examples on a real Airflow 3 (scheduler, DAG processor, API server) through REST.

The seed's three examples run in real worker processes; their outputs lie where the UI plugin looks
(the plan's output folders with ``data.parquet`` and PNGs); a failing script's task log shows the
user's own traceback with their line; a re-run reuses everything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import AirflowServer
from tests.shared import EPS_EXAMPLE_DAG_IDS

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"

FAILING_YAML = """\
name: eps_fails
steps:
  - name: explode
    type: execute_python_script
    script: |
      import pandas as pd

      def check(df):
          raise ValueError("no rows to score")

      def azureml_main():
          return check(pd.DataFrame())
"""


def _value(server: AirflowServer, dag_id: str, run_id: str, task_id: str, key: str) -> object:
    entry = server.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
    entry.raise_for_status()
    value = entry.json()["value"]
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: ServerFactory) -> AirflowServer:
    dags = tmp_path_factory.mktemp("eps-e2e") / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "definitions" / "eps_fails.yaml").write_text(FAILING_YAML)
    shutil.copy(dags / "eps_hello.py", dags / "eps_fails.py")
    server = airflow_server_factory(
        dags, {"AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend"}
    )
    server.wait_for_dags([*EPS_EXAMPLE_DAG_IDS, "eps_fails"])
    for dag_id in [*EPS_EXAMPLE_DAG_IDS, "eps_fails"]:
        server.unpause(dag_id)
    return server


def test_examples_run_and_publish_outputs(server: AirflowServer) -> None:
    runs = {dag_id: server.trigger_and_wait(dag_id) for dag_id in EPS_EXAMPLE_DAG_IDS}
    assert {d: r["state"] for d, r in runs.items()} == dict.fromkeys(EPS_EXAMPLE_DAG_IDS, "success")

    hello = runs["eps_hello"]["dag_run_id"]
    log = server.task_log("eps_hello", hello, "hello.run")
    assert "Hello, World!" in log  # print_hello from the bundle ran, as in the seed's figure 7
    step = _value(server, "eps_hello", hello, "hello.reuse", "mlp_plan")
    assert isinstance(step, dict)
    assert (Path(step["outputs"]["greeted"]) / "data.parquet").is_file()
    ref = _value(server, "eps_hello", hello, "hello.run", "return_value")
    assert isinstance(ref, dict)
    assert ref["__mlp_ref__"] == 1
    assert ref["preview"]["shape"] == [60, 6]

    scatter = runs["eps_scatter"]["dag_run_id"]
    step = _value(server, "eps_scatter", scatter, "scatter.reuse", "mlp_plan")
    assert isinstance(step, dict)
    assert [p.name for p in Path(step["outputs"]["scatter_plots"]).iterdir()] == ["scatter.png"]

    features = runs["eps_features"]["dag_run_id"]
    step = _value(server, "eps_features", features, "rank_features.reuse", "mlp_plan")
    assert isinstance(step, dict)
    assert [p.name for p in Path(step["outputs"]["importance_plots"]).iterdir()] == ["figure_1.png"]

    again = server.trigger_and_wait("eps_features")
    states = server.task_instances("eps_features", again["dag_run_id"])
    assert states["load_diabetes.run"] == states["rank_features.run"] == "skipped"
    reused = _value(server, "eps_features", again["dag_run_id"], "rank_features.reuse", "mlp_plan")
    assert isinstance(reused, dict)
    assert reused["outputs"]["importance_plots"] == step["outputs"]["importance_plots"]


def test_user_traceback_with_line_in_task_log(server: AirflowServer) -> None:
    run = server.trigger_and_wait("eps_fails")
    assert run["state"] == "failed"
    log = server.task_log("eps_fails", run["dag_run_id"], "explode.run")
    assert "Traceback (most recent call last):" in log
    assert 'azureml_main.py", line 7, in azureml_main' in log
    assert 'azureml_main.py", line 4, in check' in log
    assert "ValueError: no rows to score" in log
    assert "eps_main.py" not in log
    assert "raised ValueError: no rows to score at line 4 of azureml_main.py" in log
    assert "eps_fails.yaml:6" in log  # where the inline script's line 1 is in the definition
