"""SDK v1 data objects through the user's path: a Python definition → DAG → ``dag.test()``, on a local
datastore and on S3 (moto's server through an Airflow ``aws`` connection)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.deploy.servers import MotoServer

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

BUCKET = "mlp-sdk-data"
S3 = "mlp_sdk_s3"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def s3_connection(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    s3 = {
        "conn_type": "aws",
        "login": moto.access_key,
        "password": moto.secret_key,
        "extra": {"endpoint_url": moto.endpoint_url, "region_name": moto.region},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3.upper()}", json.dumps(s3))
    return moto


PREP = """\
import os, sys
source, out = sys.argv[1], sys.argv[2]
rows = []
for name in sorted(os.listdir(source)):
    with open(os.path.join(source, name)) as fh:
        rows += [line.strip() for line in fh.readlines()[1:] if line.strip()]
with open(os.path.join(out, "prepared.csv"), "w") as fh:
    fh.write("value\\n" + "\\n".join(rows) + "\\n")
"""

TRAIN = """\
import json, os, sys
from airflow_mlpipelines.core import Run
run = Run.get_context()
frame = run.input_datasets["{output}"].to_pandas_dataframe()
with open(os.path.join(sys.argv[2], "total.json"), "w") as fh:
    json.dump({{"rows": len(frame), "total": int(frame["value"].sum()), "arg": sys.argv[1]}}, fh)
"""

DEFINITION = """\
from airflow_mlpipelines.pipeline import (
    DataPath, DataPathComputeBinding, Datastore, OutputFileDatasetConfig, Pipeline, PipelineData,
    PipelineParameter, PythonScriptStep, Workspace,
)

ws = Workspace.from_config()
local = Datastore(ws, "local", url="data")
lake = Datastore(ws, "lake", url="s3://{s3}@{bucket}/{name}")
source = PipelineParameter("source", default_value=DataPath(local, "raw/jan"))
prepared = OutputFileDatasetConfig(destination=(lake, "prepared/{{run-id}}/{{output-name}}"))
prep = PythonScriptStep(
    "prep.py",
    arguments=[(source, DataPathComputeBinding(mode="download")), prepared],
    source_directory="src",
)
total = PipelineData("total", datastore=local)
train = PythonScriptStep(
    "train.py",
    arguments=[prepared.read_delimited_files().as_input(), total],
    outputs=[total],
    source_directory="src",
)
pipeline = Pipeline(ws, [train], name="{name}")
"""


def _write_pipeline(folder: Path, name: str) -> Path:
    definitions = folder / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / f"{name}.py").write_text(DEFINITION.format(name=name, s3=S3, bucket=BUCKET))
    (definitions / "src" / "prep.py").write_text(PREP)
    (definitions / "src" / "train.py").write_text(TRAIN.format(output="prep_output0"))
    for month, values in {"jan": [1, 2, 3], "feb": [10, 20]}.items():
        raw = definitions / "data" / "raw" / month
        raw.mkdir(parents=True)
        (raw / "part.csv").write_text("value\n" + "\n".join(map(str, values)) + "\n")
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/{name}.py"))
    return definitions


def _dag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _plan(run: Any, step: str) -> dict[str, Any]:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == f"{step}.reuse"]
    value = ti.xcom_pull(task_ids=f"{step}.reuse", key="mlp_plan")
    assert isinstance(value, dict)
    return value


def _total(run: Any) -> dict[str, Any]:
    """What the training step wrote (its output folder, computed or reused)."""
    folder = _plan(run, "train")["outputs"]["total"]
    return dict(json.loads((Path(folder) / "total.json").read_text()))


def test_a_datapath_parameter_picks_the_input_per_run_and_outputs_land_on_their_destination(
    scratch_dags: Path, s3_connection: MotoServer
) -> None:
    _write_pipeline(scratch_dags, "sdk_datapath")
    dag = _dag(scratch_dags)
    assert dag.params["source"] == {"datastore": "local", "path_on_datastore": "raw/jan"}

    first = dag.test()
    assert first.state == "success", _states(first)
    assert _total(first)["rows"] == 3
    assert _total(first)["total"] == 6
    # The output was written exactly at its destination, {run-id} expanded, on S3.
    prepared = _plan(first, "prep")["outputs"]["prep_output0"]
    assert prepared.startswith(f"s3://{S3}@{BUCKET}/sdk_datapath/prepared/")
    assert prepared.endswith("/prep_output0")
    assert "{run-id}" not in prepared
    key = prepared.split("@", 1)[1]
    fs = s3_connection.filesystem()
    assert fs.cat(f"{key}/prepared.csv").decode() == "value\n1\n2\n3\n"

    # The string form picks another folder: the step reruns on that content.
    second = dag.test(run_conf={"source": "local/raw/feb"})
    assert second.state == "success", _states(second)
    assert _total(second) == {"rows": 2, "total": 30, "arg": _total(second)["arg"]}
    assert _plan(second, "prep")["decision"] == "run"

    # The object form with the first folder again: same content, so prep is reused.
    third = dag.test(run_conf={"source": {"datastore": "local", "path_on_datastore": "raw/jan"}})
    assert third.state == "success", _states(third)
    assert _plan(third, "prep")["decision"] == "reuse"
    assert _total(third)["total"] == 6


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nowhere/raw/jan", "is not one of the pipeline's"),
        ({"datastore": "local", "path_on_datastore": "../../etc"}, "must be a relative path"),
    ],
    ids=["unknown-datastore", "outside-the-datastore"],
)
def test_a_bad_datapath_value_is_refused(
    scratch_dags: Path, s3_connection: MotoServer, value: object, message: str
) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    _write_pipeline(scratch_dags, "sdk_datapath_bad")
    dag = _dag(scratch_dags)
    # At trigger time: the Param's JSON schema (the REST API answers 400 with this).
    params = ParamsDict(dict(dag.params.items()))
    with pytest.raises(ParamValidationError, match="Invalid input for param source"):
        params["source"] = value
    # At run time (a value that skipped the schema): the step's reuse task fails naming the input.
    from airflow_mlpipelines.operators.planner import Planner
    from airflow_mlpipelines.pipeline.step_task import InputBinding

    task = dag.task_dict["prep.reuse"].task
    planner = Planner(task, {"params": {"source": value}}, None)  # type: ignore[arg-type]
    from airflow_mlpipelines.exceptions import StepExecutionError

    with pytest.raises(StepExecutionError, match=message) as err:
        planner.input_url(InputBinding("source", datastore="local", path="raw/jan", parameter="source"))
    assert "step 'prep': input 'source': parameter 'source'" in str(err.value)


def test_a_blob_datastore_resolves_through_its_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL a registered blob container gets names its connection; without the Azure provider the
    storage layer says which package to install (with an unknown connection, which one to create)."""
    from airflow_mlpipelines.connections import AirflowStorage
    from airflow_mlpipelines.exceptions import StorageError
    from airflow_mlpipelines.pipeline import Datastore

    store = Datastore.register_azure_blob_container(None, "mlp_blobs", "raw", "acc")
    assert store.url is not None
    with pytest.raises(StorageError, match="no connection 'mlp_blobs'"):
        AirflowStorage().resolve(store.url + "data")
    monkeypatch.setenv("AIRFLOW_CONN_MLP_BLOBS", json.dumps({"conn_type": "wasb", "login": "acc"}))
    if importlib.util.find_spec("adlfs") is not None:  # the Azure provider's filesystem is installed
        assert AirflowStorage().resolve(store.url + "data").path == "raw/data"
        return
    with pytest.raises(StorageError, match="install apache-airflow-providers-microsoft-azure"):
        AirflowStorage().resolve(store.url + "data")
