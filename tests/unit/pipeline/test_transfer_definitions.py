"""Data transfer steps in definitions: YAML and the SDK (DataTransferStep) build the same model, and bad
endpoints are clear errors naming file:line, step and field."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning
from airflow_mlpipelines.pipeline.model import TransferEndpoint
from airflow_mlpipelines.pipeline.step_task import StepTask, step_tasks
from airflow_mlpipelines.pipeline.transfer import contained
from airflow_mlpipelines.pipeline.yaml_loader import load_yaml_pipeline

YAML = """\
name: transfers
datastores:
  warehouse: {connection: pg_warehouse}
  lake: {url: "s3://aws_default@lake/data"}
steps:
  - name: export
    type: data_transfer
    source_data_reference: {datastore: warehouse, sql_query: "SELECT * FROM sales"}
    destination_data_reference: {output: sales}
    reuse_query: SELECT max(updated_at) FROM sales
  - name: train
    script: train.py
    arguments: [{input: sales}]
  - name: copy
    type: data_transfer
    source: {input: sales}
    destination: {datastore: lake, path: exports/sales, type: directory}
  - name: load
    type: data_transfer
    source: {datastore: lake, path: scores.csv}
    destination: {datastore: warehouse, sql_table: public.scores}
    compute_target: adf
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_yaml_pipeline(str(path))


def test_yaml_transfers_order_steps_and_round_trip(tmp_path: Path) -> None:
    with pytest.warns(MLPipelinesWarning, match=r"step 'load': compute_target 'adf' is ignored"):
        pipeline = _load(tmp_path, YAML)
    steps = {s.name: s for s in pipeline.steps}  # type: ignore[attr-defined]
    order = [s.name for s in pipeline.steps]  # type: ignore[attr-defined]
    assert order.index("export") < order.index("train")
    assert order.index("export") < order.index("copy")
    export = steps["export"].transfer
    assert (export.source.sql_query, export.destination_output, export.format) == (
        "SELECT * FROM sales",
        "sales",
        "parquet",
    )
    assert steps["export"].outputs[0].path is None  # PipelineData: a fresh folder per run
    copy = steps["copy"]
    assert copy.inputs == ("sales",)
    assert (copy.outputs[0].datastore, copy.outputs[0].path) == ("lake", "exports/sales")
    assert copy.transfer.destination.reference_type == "directory"
    load = steps["load"]
    assert load.inputs == ("load_source",) and load.outputs == ()  # noqa: PT018
    assert [d.name for d in pipeline.datasets] == ["load_source"]  # type: ignore[attr-defined]
    for task in step_tasks(pipeline):  # type: ignore[arg-type]
        assert StepTask.from_json(task.to_json()) == task


def test_every_bad_endpoint_is_reported_with_step_and_field(tmp_path: Path) -> None:
    text = """\
name: bad
datastores:
  warehouse: {connection: pg}
  lake: {url: lake}
steps:
  - name: a
    type: data_transfer
    source: {datastore: warehouse, path: x.csv}
    destination: {datastore: lake, path: ../outside}
  - name: b
    type: data_transfer
    source: {datastore: lake, sql_table: sales}
    destination: {datastore: warehouse, sql_query: "select 1"}
  - name: c
    type: data_transfer
    source: {datastore: warehouse, sql_table: "sales; drop table x"}
    destination: {datastore: lake, path: /abs/out}
  - name: d
    type: data_transfer
    source: {datastore: wharehouse, sql_table: sales}
    destination: {output: o}
  - name: e
    type: data_transfer
    source: {datastore: lake, path: in.csv}
    destination: {output: o2}
    reuse_query: select 1
  - name: f
    type: data_transfer
    source: {datastore: warehouse, sql_table: a, sql_query: "select 1"}
    destination: {datastore: warehouse, sql_table: b}
"""
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    for expected in (
        "step 'a', field 'source.path': the source is on SQL datastore 'warehouse', which has no files",
        "step 'a', field 'destination.path': the destination path '../outside' is outside its datastore",
        "step 'b', field 'source.sql_table': the source names sql_table but datastore 'lake' is not a SQL",
        "step 'b', field 'destination.sql_query': a SQL destination is a table",
        "step 'c', field 'source.sql_table': 'sales; drop table x' is not a table or procedure name",
        "step 'c', field 'destination.path': the destination path '/abs/out' is outside",
        "step 'd', field 'source.datastore': the source uses unknown datastore 'wharehouse'",
        "did you mean 'warehouse'?",
        "step 'e', field 'reuse_query': reuse_query is for SQL sources",
        "step 'f', field 'source.sql_query': the source names both sql_table and sql_query",
    ):
        assert expected in message, expected
    assert f"{tmp_path / 'p.yaml'}:6" in message


def test_a_dataset_or_output_on_a_sql_datastore_is_an_error(tmp_path: Path) -> None:
    text = """\
name: bad
datastores:
  warehouse: {connection: pg}
datasets:
  rows: {datastore: warehouse, path: sales}
steps:
  - name: a
    script: a.py
    inputs: [rows]
    outputs: [{name: out, datastore: warehouse}]
"""
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text)
    assert "dataset 'rows' is on SQL datastore 'warehouse', which has no files" in str(info.value)
    assert "output 'out' is on SQL datastore 'warehouse'" in str(info.value)


def test_a_datastore_needs_url_or_connection(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"datastore 'x' needs either url .* not both"):
        _load(tmp_path, "datastores:\n  x: {url: a, connection: b}\nsteps:\n  - {name: s, script: s.py}\n")


@pytest.mark.parametrize(
    ("path", "inside"),
    [("a/b", "a/b"), ("a/./b/", "a/b"), (".", ""), ("a/../b", "b"), ("../a", None), ("/a", None),
     ("s3://x/y", None), ("C:\\x", None), ("a/../../b", None)],
)  # fmt: skip
def test_paths_stay_inside_their_datastore(path: str, inside: str | None) -> None:
    assert contained(path) == inside


def test_sdk_data_transfer_step_with_get_output(tmp_path: Path) -> None:
    from airflow_mlpipelines.pipeline import (
        DataReference,
        Datastore,
        DataTransferStep,
        Pipeline,
        PythonScriptStep,
        SqlDataReference,
        Workspace,
    )

    ws = Workspace.from_config()
    sql = Datastore.register_azure_postgre_sql(ws, "warehouse", "server", "db", "user", "secret")
    lake = Datastore(ws, "lake", url="s3://aws_default@lake")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export = DataTransferStep(
            name="export",
            source_data_reference=SqlDataReference(sql, sql_table="sales"),
            destination_data_reference=DataReference(lake, path_on_datastore="exports/sales.parquet"),
            compute_target="adf-compute",
            reuse_query="SELECT max(updated_at) FROM sales",
        )
    assert any("compute_target is ignored" in str(w.message) and w.lineno for w in caught)
    data = export.get_output()
    train = PythonScriptStep(
        "train.py", name="train", arguments=["--data", data], inputs=[data], source_directory=str(tmp_path)
    )
    spec = Pipeline(ws, [train], name="sdk_transfers").to_spec()
    assert [s.name for s in spec.steps] == ["export", "train"]  # pulled in and ordered by get_output()
    step = spec.step("export")
    assert step.transfer is not None
    assert step.transfer.source == TransferEndpoint("warehouse", sql_table="sales")
    assert (step.outputs[0].datastore, step.outputs[0].path) == ("lake", "exports/sales.parquet")
    assert {d.name: d.connection for d in spec.datastores}["warehouse"] == "warehouse"
    assert spec.step("train").inputs == (data.name,)


def test_sdk_sql_destination_has_no_output(tmp_path: Path) -> None:
    from airflow_mlpipelines.pipeline import DataReference, Datastore, DataTransferStep, SqlDataReference

    step = DataTransferStep(
        name="load",
        source_data_reference=DataReference(Datastore(None, "lake", url="lake"), path_on_datastore="s.csv"),
        destination_data_reference=SqlDataReference(Datastore(None, "wh", connection="pg"), sql_table="s"),
    )
    with pytest.raises(DefinitionError, match=r"a SQL table destination has no output to consume"):
        step.get_output()
