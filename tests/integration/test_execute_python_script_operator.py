"""ExecutePythonScriptOperator in pipelines and hand-written DAGs: inputs from anywhere, outputs, reuse.

Item 3 (inputs: an upstream task's DataFrame through the XCom backend, a tabular dataset, a
PythonScriptStep's PipelineData folder), the output layout agreed with the UI plugin (data.parquet,
PNGs, the committed manifest), the sandbox's lifetime, and item 7 (reuse with the script text, the bundle and
the inputs as fingerprint components), on a real Airflow with ``dag.test()``.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from airflow_mlpipelines.exceptions import SourceLocation, StepExecutionError
from airflow_mlpipelines.pipeline.model import ExecutePythonScriptSpec
from tests.step_fakes import context, make_task, publish

pytestmark = [pytest.mark.integration]

RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def _context(published: dict[str, dict[str, str]] | None = None) -> Any:
    """A context whose upstream steps committed ``published`` (step -> output name -> folder)."""
    folder = Path(tempfile.mkdtemp(prefix="mlp-published-"))
    return context(None, {step: publish(folder, step, outs) for step, outs in (published or {}).items()})


def _operator(
    tmp_path: Path,
    script: str,
    inputs: dict[str, Any],
    *,
    outputs: dict[str, str] | None = None,
    datastores: dict[str, str | None] | None = None,
    script_where: str | None = None,
    ports: dict[str, str | None] | None = None,
    bundle: str | None = None,
) -> Any:
    from airflow_mlpipelines.operators.execute_python_script import ExecutePythonScriptOperator

    ports = ports or {}
    where = script_where.rsplit(":", 1) if script_where else None
    spec = ExecutePythonScriptSpec(
        dataframe_output="table",
        visualizations_output="plots",
        script=script,
        bundle=bundle,
        dataframe1=ports.get("dataframe1"),
        dataframe2=ports.get("dataframe2"),
        script_line=int(where[1]) if where else None,
    )
    task = make_task(
        tmp_path,
        "azureml_main.py",
        kind="execute_python_script",
        inputs=inputs,
        outputs=outputs or {"table": "workspaceblobstore", "plots": "workspaceblobstore"},
        datastores=datastores or {"local": str(tmp_path / "store")},
        eps=spec,
        location=SourceLocation(where[0]) if where else None,
    )
    return ExecutePythonScriptOperator(task_id="eps.run", task=replace(task, step="eps"))


def _published(home: Path) -> dict[str, str]:
    """What step ``eps`` published: the outputs of its latest committed manifest."""
    manifests = (home / "mlpipelines" / "datastore" / "_manifests" / "p" / "eps").glob("*/manifest.json")
    latest = max(manifests, key=lambda p: p.stat().st_mtime)
    return {name: out["url"] for name, out in json.loads(latest.read_text())["outputs"].items()}


SHAPES = """
import os
import matplotlib.pyplot as plt
import pandas as pd

def azureml_main(dataframe1, dataframe2):
    plt.figure(); plt.plot(range(len(dataframe1))); plt.savefig("first.png")
    return pd.DataFrame({
        "which": ["dataframe1", "dataframe2"],
        "rows": [len(dataframe1), len(dataframe2)],
        "columns": [",".join(dataframe1.columns), ",".join(dataframe2.columns)],
        "cwd": [os.getcwd()] * 2,
    }),
"""


class TestInputsAndOutputs:
    def test_dataset_csv_and_pipelinedata_parquet_folder(self, tmp_path: Path, airflow_home: Path) -> None:
        store = tmp_path / "store"
        store.mkdir()
        (store / "raw.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
        produced = tmp_path / "upstream_output"  # a PythonScriptStep's PipelineData folder
        produced.mkdir()
        pd.DataFrame({"x": [1.5, 2.5]}).to_parquet(produced / "part-0.parquet")
        op = _operator(
            tmp_path,
            SHAPES,
            {"raw": {"datastore": "local", "path": "raw.csv"}, "prepped": {"step": "prepare"}},
            ports={"dataframe1": "raw", "dataframe2": "prepped"},
        )
        frame = op.execute(_context({"prepare": {"prepped": str(produced)}}))

        assert frame[["which", "rows", "columns"]].to_dict("list") == {
            "which": ["dataframe1", "dataframe2"],
            "rows": [3, 2],
            "columns": ["a,b", "x"],
        }
        assert not Path(frame["cwd"][0]).exists()  # the sandbox is gone once the step finished
        outputs = {name: Path(url) for name, url in _published(airflow_home).items()}
        assert set(outputs) == {"table", "plots"}
        assert outputs["table"].parent == outputs["plots"].parent  # <pipeline>/<step>/<fp>/<run>/
        assert outputs["table"].parts[-5:-2] == ("p", "eps", outputs["table"].parts[-3])
        stored = pd.read_parquet(outputs["table"] / "data.parquet")
        assert stored["rows"].tolist() == [3, 2]
        assert sorted(p.name for p in outputs["plots"].iterdir()) == ["first.png"]
        manifests = list(
            (airflow_home / "mlpipelines" / "datastore" / "_manifests" / "p" / "eps").glob("*/manifest.json")
        )
        manifest = json.loads(manifests[-1].read_text())
        assert {f["path"] for f in manifest["outputs"]["table"]["files"]} == {"data.parquet"}
        assert {f["path"] for f in manifest["outputs"]["plots"]["files"]} == {"first.png"}

    def test_upstream_execute_python_script_output_and_csv_pipelinedata(self, tmp_path: Path) -> None:
        upstream = tmp_path / "eps_output"
        upstream.mkdir()
        from airflow_mlpipelines.frames import codec

        codec.write(pd.DataFrame({"k": ["a", "b", None]}), str(upstream / "data.parquet"), "parquet")
        csv_folder = tmp_path / "csv_output"
        csv_folder.mkdir()
        (csv_folder / "prepped.csv").write_text("m\n7\n")
        (csv_folder / "stats.json").write_text("{}")  # other files beside the table are ignored
        op = _operator(
            tmp_path,
            SHAPES,
            {"frames": {"step": "first"}, "prepped": {"step": "prepare"}},
            ports={"dataframe1": "frames", "dataframe2": "prepped"},
        )
        frame = op.execute(
            _context({"first": {"frames": str(upstream)}, "prepare": {"prepped": str(csv_folder)}})
        )
        assert frame["rows"].tolist() == [3, 1]
        assert frame["columns"].tolist() == ["k", "m"]

    def test_remote_datastore_inputs_and_outputs(self, tmp_path: Path, airflow_home: Path) -> None:
        """A dataset on object storage (fsspec's memory filesystem) is downloaded; outputs are uploaded."""
        import fsspec
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.io import attach

        attach("memory", fs=fsspec.filesystem("memory"))
        remote = ObjectStoragePath("memory://mlp-eps/store")
        (remote / "raw").mkdir(parents=True, exist_ok=True)
        (remote / "raw" / "in.csv").write_text("v\n1\n2\n")
        script = (
            "import matplotlib.pyplot as plt\n"
            "def azureml_main(df):\n"
            "    plt.plot(df['v'])\n"
            "    df['double'] = df['v'] * 2\n"
            "    return df,\n"
        )
        op = _operator(
            tmp_path,
            script,
            {"raw": {"datastore": "remote", "path": "raw/in.csv", "mode": "download"}},
            ports={"dataframe1": "raw", "dataframe2": None},
            outputs={"table": "remote", "plots": "remote"},
            datastores={"remote": "memory://mlp-eps/store"},
        )
        frame = op.execute(_context())
        assert frame["double"].tolist() == [2, 4]
        urls = _published(airflow_home)
        assert urls["table"].startswith("memory://mlp-eps/store/p/eps/")
        with (ObjectStoragePath(urls["table"]) / "data.parquet").open("rb") as fh:
            assert pd.read_parquet(fh)["double"].tolist() == [2, 4]
        assert [p.name for p in ObjectStoragePath(urls["plots"]).iterdir()] == ["figure_1.png"]

    def test_bundle_problems_fail_the_task_naming_the_step(self, tmp_path: Path) -> None:
        bundle = tmp_path / "evil.zip"
        with zipfile.ZipFile(bundle, "w") as zf:
            zf.writestr("../../escape.py", "x = 1")
        op = _operator(tmp_path, "def azureml_main():\n    return None\n", {}, bundle=str(bundle))
        with pytest.raises(StepExecutionError, match=r"step 'eps': script bundle .*climbs out of the bundle"):
            op.execute(_context())
        assert not (tmp_path.parent / "escape.py").exists()

    def test_user_error_fails_the_task_with_the_line(self, tmp_path: Path) -> None:
        op = _operator(
            tmp_path,
            "def azureml_main():\n    return 1 / 0\n",
            {},
            script_where="pipeline.yaml:12",
        )
        with pytest.raises(
            StepExecutionError,
            match=r"raised ZeroDivisionError: division by zero at line 2 of azureml_main.py "
            r"\(the inline script of step 'eps'; its line 1 is pipeline.yaml:12\)",
        ):
            op.execute(_context())


HAND_WRITTEN = '''
import datetime

import pandas as pd
from airflow.sdk import DAG, task

from airflow_mlpipelines.operators.execute_python_script import ExecutePythonScriptOperator

SCRIPT = """
def azureml_main(dataframe1, dataframe2):
    dataframe1["total"] = dataframe1["n"] + dataframe2["n"]
    return dataframe1,
"""

with DAG("{dag_id}", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task
    def left():
        return pd.DataFrame({{"n": [1, 2, 3]}}, index=[10, 20, 30])

    @task
    def right():
        return pd.DataFrame({{"n": [10, 20, 30]}})

    add = ExecutePythonScriptOperator(task_id="add", script=SCRIPT, dataframe1=left(), dataframe2=right())

    @task
    def check(frame):
        assert frame["total"].tolist() == [11, 22, 33], frame
        assert list(frame.index) == [0, 1, 2]
        return int(frame["total"].sum())

    check(add.output)
'''


@pytest.mark.usefixtures("airflow_db")
def test_hand_written_dag_passes_frames_through_the_xcom_backend(scratch_dags: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag_id = f"eps_taskflow_{scratch_dags.name}"[:60]
    (scratch_dags / f"{dag_id}.py").write_text(HAND_WRITTEN.format(dag_id=dag_id))
    bag = DagBag(str(scratch_dags))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    assert dag.get_task("add").upstream_task_ids == {"left", "right"}
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys(("left", "right", "add", "check"), "success")
    (check,) = [ti for ti in run.get_task_instances() if ti.task_id == "check"]
    assert check.xcom_pull(task_ids="check") == 66


# -- reuse (item 7) -----------------------------------------------------------------------------------------
REUSE_YAML = """\
name: {name}
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.csv}}
steps:
  - name: score
    type: execute_python_script
    bundle: lib.zip
    dataframe1: raw
    outputs: {{dataframe: scored}}
    script: |
      import mylib

      def azureml_main(df):
          df["score"] = df["v"] * mylib.FACTOR
          return df,
  - name: total
    type: execute_python_script
    dataframe1: scored
    script: |
      import pandas as pd

      def azureml_main(df):
          return pd.DataFrame({{"total": [df["score"].sum()]}}),
"""


def _write_lib(folder: Path, factor: int) -> None:
    with zipfile.ZipFile(folder / "lib.zip", "w") as zf:
        zf.writestr("mylib.py", f"FACTOR = {factor}\n")


@pytest.fixture
def reuse_pipeline(scratch_dags: Path) -> Path:
    name = f"eps_reuse_{scratch_dags.name}"[:60]
    (scratch_dags / f"{name}.yaml").write_text(REUSE_YAML.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "raw.csv").write_text("v\n1\n2\n")
    _write_lib(scratch_dags, 10)
    return scratch_dags


def _run(folder: Path) -> tuple[dict[str, str], Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    return states, run


def _ran(states: dict[str, str]) -> set[str]:
    return {t.split(".")[0] for t, s in states.items() if t.endswith(".run") and s == "success"}


def _total(run: Any) -> float:
    published = {ti.task_id: ti for ti in run.get_task_instances()}
    plan = published["total.reuse"].xcom_pull(task_ids="total.reuse", key="mlp_plan")
    if plan:
        return float(pd.read_parquet(Path(plan["outputs"]["total_dataframe"]) / "data.parquet")["total"][0])
    raise AssertionError("total published nothing")


@pytest.mark.usefixtures("airflow_db")
def test_reuse_follows_script_bundle_and_inputs(reuse_pipeline: Path) -> None:
    states, run = _run(reuse_pipeline)
    assert _ran(states) == {"score", "total"}
    assert _total(run) == 30

    states, run = _run(reuse_pipeline)
    assert _ran(states) == set()  # nothing changed: both steps reused, no process started
    assert states["score.run"] == states["total.run"] == "skipped"
    assert _total(run) == 30

    _write_lib(reuse_pipeline, 100)  # the bundle changed
    states, run = _run(reuse_pipeline)
    assert _ran(states) == {"score", "total"}
    assert _total(run) == 300

    definition = next(reuse_pipeline.glob("*.yaml"))
    definition.write_text(
        definition.read_text().replace('"total": [df["score"].sum()]', '"total": [df["score"].max()]')
    )
    states, run = _run(reuse_pipeline)
    assert _ran(states) == {"total"}  # only the changed script re-runs
    assert _total(run) == 200

    (reuse_pipeline / "data" / "raw.csv").write_text("v\n1\n2\n3\n")  # the input changed
    states, run = _run(reuse_pipeline)
    assert _ran(states) == {"score", "total"}
    assert _total(run) == 300
