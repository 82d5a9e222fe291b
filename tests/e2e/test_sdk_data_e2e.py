"""A DataPath parameter on a real Airflow 3 through REST API v2: a bad value is refused when the run is
triggered (400, naming the parameter); a good one picks the step's input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

DEFINITION = """\
from airflow_mlpipelines.pipeline import (
    DataPath, DataPathComputeBinding, Datastore, OutputFileDatasetConfig, Pipeline, PipelineParameter,
    PythonScriptStep, Workspace,
)

ws = Workspace()
local = Datastore(ws, "local", url="data")
source = PipelineParameter("source", default_value=DataPath(local, "raw/jan"))
counted = OutputFileDatasetConfig("counted", destination=(local, "counted/{run-id}"))
step = PythonScriptStep("count.py", source_directory="src",
                        arguments=[(source, DataPathComputeBinding()), counted])
pipeline = Pipeline(ws, [step], name="e2e_datapath")
"""

COUNT = """\
import json, os, sys
names = sorted(os.listdir(sys.argv[1]))
json.dump({"files": names}, open(os.path.join(sys.argv[2], "count.json"), "w"))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory) -> AirflowServer:  # type: ignore[no-untyped-def]
    dags = tmp_path_factory.mktemp("e2e-sdk-data") / "dags"
    definitions = dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "e2e_datapath.py").write_text(DEFINITION)
    (definitions / "src" / "count.py").write_text(COUNT)
    for month, files in {"jan": ["a.csv"], "feb": ["b.csv", "c.csv"]}.items():
        folder = definitions / "data" / "raw" / month
        folder.mkdir(parents=True)
        for name in files:
            (folder / name).write_text("x\n1\n")
    (dags / ".airflowignore").write_text("definitions/\n")
    (dags / "e2e_datapath.py").write_text(STUB_TEMPLATE.format(definition="definitions/e2e_datapath.py"))
    server: AirflowServer = airflow_server_factory(dags)
    server.wait_for_dags(["e2e_datapath"])
    server.unpause("e2e_datapath")
    return server


@pytest.mark.parametrize(
    "value",
    ["elsewhere/raw/feb", {"datastore": "local", "path_on_datastore": "../../etc"}, {"datastore": "local"}],
    ids=["unknown-datastore", "outside-the-datastore", "missing-path"],
)
def test_a_bad_datapath_is_refused_when_triggered(server: AirflowServer, value: object) -> None:
    response = server.trigger("e2e_datapath", {"source": value})
    assert response.status_code == 400, response.text
    assert "source" in response.text


def test_the_run_conf_picks_the_input(server: AirflowServer) -> None:
    run = server.trigger_and_wait("e2e_datapath", {"source": "local/raw/feb"})
    assert run["state"] == "success"
    counted = server.dags_folder / "definitions" / "data" / "counted"
    (folder,) = [p for p in counted.iterdir() if p.is_dir()]
    assert json.loads(Path(folder, "count.json").read_text()) == {"files": ["b.csv", "c.csv"]}
