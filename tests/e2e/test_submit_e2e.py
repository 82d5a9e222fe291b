"""Submitting from a notebook (issue 14, item 5): ``Experiment(ws, name).submit(pipeline)`` triggers the
deployed DAG through a real Airflow's REST API and follows the run; mismatches and bad credentials are
clear errors; ``local=True`` runs the pipeline in-process."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.core import Experiment, SubmitError, Workspace
from airflow_mlpipelines.pipeline import load_definition
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DAG_ID = "plots_report"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: Any) -> AirflowServer:
    dags = tmp_path_factory.mktemp("submit-e2e") / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    started: AirflowServer = airflow_server_factory(dags, {})
    started.wait_for_dags([DAG_ID])
    return started


@pytest.fixture
def workspace(server: AirflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A notebook's config.json naming the API and the variable that holds its token."""
    token = str(server.client.headers["Authorization"]).removeprefix("Bearer ")
    monkeypatch.setenv("NOTEBOOK_AIRFLOW_TOKEN", token)
    config = tmp_path / "config.json"
    airflow = {"api_url": server.base_url, "token_env": "NOTEBOOK_AIRFLOW_TOKEN"}
    config.write_text(json.dumps({"workspace_name": "ws", "airflow": airflow}))
    return Workspace.from_config(str(config))


def _definition(server: AirflowServer) -> Path:
    return Path(server.dags_folder) / "definitions" / f"{DAG_ID}.yaml"


def test_submit_waits_and_reads_steps_metrics_and_outputs(
    server: AirflowServer, workspace: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Experiment(workspace, "plots").submit(_definition(server))
    assert run.wait_for_completion(show_output=True) == "Finished"
    out = capsys.readouterr().out
    assert "--- report.run: success" in out
    assert "summary: 3 rows" in out  # the step's own log, streamed
    assert run.get_status() == "Finished"
    assert [s.name for s in run.get_steps()] == ["prepare", "report"]
    (report,) = run.find_step_run("report")
    assert report.get_status() == "Finished"
    assert report.get_metrics() == {"rows": 60, "labels": 3}
    assert run.get_metrics() == {"report": {"rows": 60, "labels": 3}}
    from airflow_mlpipelines.core import RunDetails

    RunDetails(run).show()  # outside Jupyter widgets: the state and the run's page in the Airflow UI
    shown = capsys.readouterr().out
    assert "  report: Finished" in shown
    assert f"{server.base_url}/dags/{DAG_ID}/runs/{run.run_id}" in shown
    folder = run.get_output_data("figures").download(str(tmp_path))
    assert sorted(p.name for p in Path(folder).iterdir()) == ["petals.png", "sepal_length.png"]


def test_a_pipeline_that_differs_from_the_deployed_dag_is_refused(
    server: AirflowServer, workspace: Any
) -> None:
    (spec,) = load_definition(str(_definition(server)))
    extra = dataclasses.replace(spec.steps[-1], name="extra", outputs=())
    changed = dataclasses.replace(spec, steps=(*spec.steps, extra))
    with pytest.raises(
        SubmitError, match=r"the deployed DAG 'plots_report' differs .*lacks extra\.reuse, extra\.run"
    ):
        Experiment(workspace, "plots").submit(changed)
    missing = dataclasses.replace(spec, name="not_deployed")
    with pytest.raises(
        SubmitError, match=r"pipeline 'not_deployed' is not deployed: Airflow at .* has no DAG"
    ):
        Experiment(workspace, "plots").submit(missing)
    with pytest.raises(SubmitError, match=r"pipeline 'plots_report' has no parameter 'lr'"):
        Experiment(workspace, "plots").submit(spec, pipeline_parameters={"lr": 1})


def test_bad_credentials_and_an_unreachable_api_are_clear_errors(
    server: AirflowServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MLP_AIRFLOW_TOKEN", raising=False)
    monkeypatch.setenv("MLP_AIRFLOW_USERNAME", "admin")
    monkeypatch.setenv("MLP_AIRFLOW_PASSWORD", "wrong")
    ws = Workspace(airflow={"api_url": server.base_url})
    with pytest.raises(SubmitError, match=r"refused the credentials \(401\)"):
        Experiment(ws, "plots").submit(_definition(server))
    ws = Workspace(airflow={"api_url": "http://127.0.0.1:9"})
    with pytest.raises(SubmitError, match=r"cannot reach the Airflow API at http://127\.0\.0\.1:9"):
        Experiment(ws, "plots").submit(_definition(server))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"airflow": {"api_url": server.base_url, "password": "x"}}))
    with pytest.raises(SubmitError, match=r"config\.json holds a credential"):
        Experiment(Workspace.from_config(str(config)), "plots").submit(_definition(server))


@pytest.mark.usefixtures("airflow_db")
def test_local_mode_runs_in_process(tmp_path: Path) -> None:
    definition = tmp_path / "local_submit.yaml"
    (tmp_path / "s.py").write_text(
        "from airflow_mlpipelines.core import Run\nRun.get_context().log('score', 0.5)\n"
    )
    definition.write_text("name: local_submit\nsteps:\n  - {name: s, script: s.py}\n")
    run = Experiment(Workspace(), "local").submit(definition, local=True)
    assert run.wait_for_completion() == "Finished"
    assert run.get_metrics() == {"s": {"score": 0.5}}
