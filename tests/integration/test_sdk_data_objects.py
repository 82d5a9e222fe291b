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
    s3 = moto.airflow_connection()
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


def test_notebook_uploads_registers_and_reads_datasets_on_s3(
    s3_connection: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A notebook's round trip: upload files to an S3 datastore, register a tabular dataset over them
    (definitions, versions), read it back as a DataFrame, download it, and download the datastore."""
    from airflow_mlpipelines.exceptions import DatasetRegistryError
    from airflow_mlpipelines.pipeline import Dataset, Datastore, Workspace

    ws = Workspace()
    lake = Datastore(ws, "lake", url=f"s3://{S3}@{BUCKET}/notebook")
    (tmp_path / "jan.csv").write_text("region,sales\nnorth,1\nsouth,2\n")
    (tmp_path / "feb.csv").write_text("region,sales\nnorth,10\n")
    ref = lake.upload_files([str(tmp_path / "jan.csv"), str(tmp_path / "feb.csv")], target_path="sales")
    assert (ref.datastore.name, ref.path_on_datastore) == ("lake", "sales")
    fs = s3_connection.filesystem()
    assert fs.cat(f"{BUCKET}/notebook/sales/jan.csv") == b"region,sales\nnorth,1\nsouth,2\n"
    # overwrite=False keeps what is there (and says so).
    (tmp_path / "jan.csv").write_text("region,sales\nchanged,0\n")
    lake.upload_files([str(tmp_path / "jan.csv")], target_path="sales", show_progress=True)
    assert "skipped" in capsys.readouterr().out
    assert fs.cat(f"{BUCKET}/notebook/sales/jan.csv") == b"region,sales\nnorth,1\nsouth,2\n"

    sales = Dataset.Tabular.from_delimited_files(path=[(lake, "sales")])
    first = sales.register(ws, "nb_sales", description="monthly sales", tags={"team": "bi"})
    assert (first.name, first.version, first.tags) == ("nb_sales", 1, {"team": "bi"})
    assert sales.register(ws, "nb_sales").version == 1  # the same definition again: the same version
    january = Dataset.Tabular.from_delimited_files(path=[(lake, "sales/jan.csv")])
    with pytest.raises(DatasetRegistryError, match="create_new_version=True"):
        january.register(ws, "nb_sales")
    second = january.register(ws, "nb_sales", create_new_version=True)
    assert second.version == 2
    assert Dataset.get_by_name(ws, "nb_sales").version == 2
    older = Dataset.get_by_name(ws, "nb_sales", version=1)
    assert older.description == "monthly sales"
    assert Dataset.get_by_id(ws, second.id).version == 2  # type: ignore[arg-type]
    with pytest.raises(DatasetRegistryError, match="has no version 7"):
        Dataset.get_by_name(ws, "nb_sales", version=7)

    frame = older.to_pandas_dataframe()
    assert sorted(zip(frame["region"], frame["sales"], strict=True)) == [
        ("north", 1),
        ("north", 10),
        ("south", 2),
    ]
    assert sorted(older.to_path()) == ["/feb.csv", "/jan.csv"]
    files = older.download(str(tmp_path / "copy"))
    assert sorted(Path(f).name for f in files) == ["feb.csv", "jan.csv"]
    with pytest.raises(DatasetRegistryError, match="overwrite=True"):
        older.download(str(tmp_path / "copy"))
    assert lake.download(str(tmp_path / "all"), prefix="sales") == 2
    assert (tmp_path / "all" / "sales" / "feb.csv").read_text() == "region,sales\nnorth,10\n"


def test_registered_dataset_and_datastore_path_feed_a_pipeline(scratch_dags: Path, tmp_path: Path) -> None:
    """What a notebook registered is consumed by a pipeline definition (``Dataset.get_by_name``), and a
    ``datastore.path(...)`` reference is a step input too."""
    from airflow_mlpipelines.pipeline import Dataset, Datastore, Workspace

    ws = Workspace()
    store = Datastore(ws, "nb_local")  # <datastore_root>/nb_local
    (tmp_path / "a.csv").write_text("value\n4\n5\n")
    store.upload_files([str(tmp_path / "a.csv")], target_path="inputs", overwrite=True, show_progress=False)
    Dataset.Tabular.from_delimited_files(path=[(store, "inputs")]).register(ws, "nb_values")

    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "src" / "count.py").write_text(
        "import json, os, sys\n"
        "from airflow_mlpipelines.core import Run\n"
        "frame = Run.get_context().input_datasets['values'].to_pandas_dataframe()\n"
        "names = sorted(os.listdir(sys.argv[1]))\n"
        "result = {'total': int(frame['value'].sum()), 'files': names}\n"
        "json.dump(result, open(os.path.join(sys.argv[2], 'o.json'), 'w'))\n"
    )
    (definitions / "nb_consumer.py").write_text(
        "from airflow_mlpipelines.pipeline import (\n"
        "    Dataset, Datastore, Pipeline, PipelineData, PythonScriptStep)\n"
        "values = Dataset.get_by_name(None, 'nb_values')\n"
        "out = PipelineData('out')\n"
        "step = PythonScriptStep('count.py', source_directory='src', outputs=[out],\n"
        "    arguments=[Datastore(None, 'nb_local').path('inputs'), out],\n"
        "    inputs=[values.as_named_input('values')])\n"
        "pipeline = Pipeline(None, [step], name='nb_consumer')\n"
    )
    (scratch_dags / "nb_consumer.py").write_text(
        STUB_TEMPLATE.format(definition="definitions/nb_consumer.py")
    )
    run = _dag(scratch_dags).test()
    assert run.state == "success", _states(run)
    folder = Path(_plan(run, "count")["outputs"]["out"])
    assert json.loads((folder / "o.json").read_text()) == {"total": 9, "files": ["a.csv"]}


def test_concurrent_registrations_get_distinct_versions() -> None:
    """Eight notebooks registering new versions of one name at once: eight versions, none overwritten."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_mlpipelines import notebook

    def register(i: int) -> int:
        definition = {"kind": "file", "targets": [["workspaceblobstore", None, f"p{i}"]]}
        return int(notebook.register("nb_race", definition, create_new_version=True)["version"])

    with ThreadPoolExecutor(8) as pool:
        got = sorted(pool.map(register, range(8)))
    assert got == list(range(1, 9))
    paths = {notebook.get("nb_race", v)["targets"][0][2] for v in got}
    assert paths == {f"p{i}" for i in range(8)}


def test_a_sql_query_dataset_is_read_at_run_time_and_reused_by_its_reuse_query(
    scratch_dags: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Dataset.Tabular.from_sql_query((sql_datastore, query))`` on SQLite (the sqlite provider): the
    consumer reads the rows as a DataFrame; the query re-runs only when ``reuse_query``'s result changes."""
    import sqlite3

    lite = tmp_path / "shop.db"
    with sqlite3.connect(lite) as db:
        db.executescript(
            "CREATE TABLE sales (region text, amount int);"
            "INSERT INTO sales VALUES ('north', 3), ('south', 4), ('north', 5);"
        )
    monkeypatch.setenv("AIRFLOW_CONN_MLP_Q_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(lite)}))
    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "src" / "total.py").write_text(
        "import json, os, sys\n"
        "from airflow_mlpipelines.core import Run\n"
        "frame = Run.get_context().input_datasets['north'].to_pandas_dataframe()\n"
        "result = {'rows': len(frame), 'total': int(frame['amount'].sum())}\n"
        "json.dump(result, open(os.path.join(sys.argv[2], 'o.json'), 'w'))\n"
    )
    (definitions / "sql_query.py").write_text(
        "from airflow_mlpipelines.pipeline import (\n"
        "    Dataset, Datastore, Pipeline, PipelineData, PythonScriptStep, Workspace)\n"
        "ws = Workspace()\n"
        "shop = Datastore.register_azure_sql_database(ws, 'mlp_q_sqlite', 'server', 'db')\n"
        "north = Dataset.Tabular.from_sql_query(\n"
        "    (shop, \"SELECT region, amount FROM sales WHERE region = 'north'\"),\n"
        "    reuse_query='SELECT count(*), sum(amount) FROM sales')\n"
        "out = PipelineData('out')\n"
        "step = PythonScriptStep('total.py', source_directory='src', outputs=[out],\n"
        "    arguments=[north.as_named_input('north'), out])\n"
        "pipeline = Pipeline(ws, [step], name='sql_query')\n"
    )
    (scratch_dags / "sql_query.py").write_text(STUB_TEMPLATE.format(definition="definitions/sql_query.py"))
    dag = _dag(scratch_dags)
    assert set(dag.task_group_dict) == {"north_query", "total"}

    def result(run: Any) -> dict[str, Any]:
        assert run.state == "success", _states(run)
        folder = Path(_plan(run, "total")["outputs"]["out"])
        return dict(json.loads((folder / "o.json").read_text()))

    first = dag.test()
    assert result(first) == {"rows": 2, "total": 8}
    assert Path(_plan(first, "north_query")["outputs"]["north"], "data.parquet").is_file()
    second = dag.test()
    assert _plan(second, "north_query")["decision"] == "reuse"
    assert result(second) == {"rows": 2, "total": 8}
    with sqlite3.connect(lite) as db:
        db.execute("INSERT INTO sales VALUES ('north', 10)")
    third = dag.test()
    assert _plan(third, "north_query")["decision"] == "run"
    assert result(third) == {"rows": 3, "total": 18}

    # In a notebook, the same dataset reads its rows now.
    from airflow_mlpipelines.pipeline import Dataset, Datastore

    shop = Datastore.register_azure_sql_database(None, "mlp_q_sqlite", "server", "db")
    frame = Dataset.Tabular.from_sql_query(
        (shop, "SELECT amount FROM sales ORDER BY amount")
    ).to_pandas_dataframe()
    assert list(frame["amount"]) == [3, 4, 5, 10]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on a folder (``http.server``: Last-Modified and Content-Length, no ETag)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "web"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_a_web_file_dataset_is_downloaded_at_run_time_and_fingerprinted_by_content(
    scratch_dags: Path, web_server: tuple[str, Path]
) -> None:
    base, root = web_server
    (root / "sales.csv").write_text("amount\n1\n2\n")
    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "src" / "total.py").write_text(
        "import json, os, sys\n"
        "from airflow_mlpipelines.core import Run\n"
        "frame = Run.get_context().input_datasets['sales'].to_pandas_dataframe()\n"
        "result = {'total': int(frame['amount'].sum()), 'file': os.path.basename(sys.argv[1])}\n"
        "json.dump(result, open(os.path.join(sys.argv[2], 'o.json'), 'w'))\n"
    )
    (definitions / "web.py").write_text(
        "from airflow_mlpipelines.pipeline import Dataset, Pipeline, PipelineData, PythonScriptStep\n"
        f"sales = Dataset.Tabular.from_delimited_files('{base}/sales.csv')\n"
        "out = PipelineData('out')\n"
        "step = PythonScriptStep('total.py', source_directory='src', outputs=[out],\n"
        "    arguments=[sales.as_named_input('sales'), out])\n"
        "pipeline = Pipeline(None, [step], name='web_dataset')\n"
    )
    (scratch_dags / "web.py").write_text(STUB_TEMPLATE.format(definition="definitions/web.py"))
    dag = _dag(scratch_dags)

    def result(run: Any) -> dict[str, Any]:
        assert run.state == "success", _states(run)
        return dict(json.loads((Path(_plan(run, "total")["outputs"]["out"]) / "o.json").read_text()))

    first = dag.test()
    assert result(first) == {"total": 3, "file": "sales.csv"}
    assert _plan(dag.test(), "total")["decision"] == "reuse"  # same bytes: reused
    (root / "sales.csv").write_text("amount\n1\n2\n30\n")
    third = dag.test()
    assert _plan(third, "total")["decision"] == "run"
    assert result(third) == {"total": 33, "file": "sales.csv"}


def test_partition_columns_are_added_when_a_tabular_dataset_is_read(scratch_dags: Path) -> None:
    """In a step (``Run.input_datasets``) and in a notebook (``to_pandas_dataframe``)."""
    definitions = scratch_dags / "definitions"
    for region, day, amount in (("north", "2024/01/31", 5), ("south", "2024/02/01", 7)):
        folder = definitions / "data" / "sales" / region / day
        folder.mkdir(parents=True)
        (folder / "data.csv").write_text(f"amount\n{amount}\n")
    (definitions / "src").mkdir()
    (definitions / "src" / "rows.py").write_text(
        "import json, os, sys\n"
        "from airflow_mlpipelines.core import Run\n"
        "frame = Run.get_context().input_datasets['sales'].to_pandas_dataframe()\n"
        "rows = sorted((r.Region, r.PartitionDate.isoformat(), int(r.amount)) for r in frame.itertuples())\n"
        "json.dump(rows, open(os.path.join(sys.argv[1], 'rows.json'), 'w'))\n"
    )
    (definitions / "partitions.py").write_text(
        "from airflow_mlpipelines.pipeline import (\n"
        "    Dataset, Datastore, Pipeline, PipelineData, PythonScriptStep)\n"
        "local = Datastore(None, 'local', url='data')\n"
        "sales = Dataset.Tabular.from_delimited_files(\n"
        "    [(local, 'sales')], partition_format='/{Region}/{PartitionDate:yyyy/MM/dd}/data.csv')\n"
        "out = PipelineData('out')\n"
        "step = PythonScriptStep('rows.py', source_directory='src', outputs=[out],\n"
        "    arguments=[out], inputs=[sales.as_named_input('sales')])\n"
        "pipeline = Pipeline(None, [step], name='partitions')\n"
    )
    (scratch_dags / "partitions.py").write_text(STUB_TEMPLATE.format(definition="definitions/partitions.py"))
    run = _dag(scratch_dags).test()
    assert run.state == "success", _states(run)
    rows = json.loads((Path(_plan(run, "rows")["outputs"]["out"]) / "rows.json").read_text())
    assert rows == [["north", "2024-01-31T00:00:00", 5], ["south", "2024-02-01T00:00:00", 7]]

    from airflow_mlpipelines.pipeline import Dataset, Datastore

    local = Datastore(None, "local", url=str(definitions / "data"))
    frame = Dataset.Tabular.from_delimited_files(
        [(local, "sales")], partition_format="/{Region}/{PartitionDate:yyyy/MM/dd}/data.csv"
    ).to_pandas_dataframe()
    assert sorted(frame["Region"]) == ["north", "south"]
    assert str(frame["PartitionDate"].dtype) == "datetime64[ns]"


def test_register_on_complete_registers_the_committed_output(scratch_dags: Path) -> None:
    from airflow_mlpipelines.pipeline import Dataset

    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "src" / "make.py").write_text(
        "import os, sys\nopen(os.path.join(sys.argv[1], 'rows.csv'), 'w').write('x\\n1\\n2\\n3\\n')\n"
    )
    (definitions / "registered.py").write_text(
        "from airflow_mlpipelines.pipeline import OutputFileDatasetConfig, Pipeline, PythonScriptStep\n"
        "rows = OutputFileDatasetConfig('rows').read_delimited_files().register_on_complete('made_rows')\n"
        "step = PythonScriptStep('make.py', source_directory='src', arguments=[rows])\n"
        "pipeline = Pipeline(None, [step], name='registered_output')\n"
    )
    (scratch_dags / "registered.py").write_text(STUB_TEMPLATE.format(definition="definitions/registered.py"))
    dag = _dag(scratch_dags)
    first = dag.test()
    assert first.state == "success", _states(first)
    made = Dataset.get_by_name(None, "made_rows")
    assert made.version == 1
    assert made.targets[0][1] == _plan(first, "make")["outputs"]["rows"]
    assert list(made.to_pandas_dataframe()["x"]) == [1, 2, 3]
    second = dag.test()  # reused: the same committed output, nothing new registered
    assert _plan(second, "make")["decision"] == "reuse"
    assert Dataset.get_by_name(None, "made_rows").version == 1
