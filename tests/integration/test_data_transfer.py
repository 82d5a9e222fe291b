"""Data transfer steps on a real Airflow (``dag.test()``) against a real PostgreSQL server, SQLite through
the sqlite provider, and S3 on moto's server through an Airflow ``aws`` connection."""

from __future__ import annotations

import decimal
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.deploy.servers import MotoServer, PostgresServer

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

BUCKET = "mlp-transfer"
PG, LITE, S3 = "mlp_t_pg", "mlp_t_sqlite", "mlp_t_s3"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("pg"), database="warehouse")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    server.create_bucket(BUCKET)
    yield server
    server.stop()


@pytest.fixture
def connections(
    postgres: PostgresServer, moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Airflow connections to the three systems (environment variables, as a deployment would set them);
    returns the SQLite database file."""
    lite = tmp_path / "lite.db"
    pg = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": postgres.port,
        "login": postgres.user,
        "password": postgres.password,
        "schema": "warehouse",
    }
    s3 = moto.airflow_connection()
    monkeypatch.setenv(f"AIRFLOW_CONN_{PG.upper()}", json.dumps(pg))
    monkeypatch.setenv(f"AIRFLOW_CONN_{LITE.upper()}", json.dumps({"conn_type": "sqlite", "host": str(lite)}))
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3.upper()}", json.dumps(s3))
    return lite


def _pg(postgres: PostgresServer, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg2

    conn = psycopg2.connect(
        host="127.0.0.1",
        port=postgres.port,
        user=postgres.user,
        password=postgres.password,
        dbname="warehouse",
    )
    try:
        with conn.cursor() as cur:
            rows: list[tuple[Any, ...]] = []
            for statement in statements:
                cur.execute(statement)
                rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def _write(folder: Path, name: str, definition: str) -> None:
    (folder / f"{name}.yaml").write_text(definition)
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))


def _run(folder: Path, *, expect: str = "success") -> tuple[dict[str, str], Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == expect, states
    return states, run


def _ran(states: dict[str, str]) -> set[str]:
    return {t.split(".")[0] for t, s in states.items() if t.endswith(".run") and s == "success"}


def _plan(run: Any, step: str) -> dict[str, Any]:
    (ti,) = [t for t in run.get_task_instances() if t.task_id == f"{step}.reuse"]
    value = ti.xcom_pull(task_ids=f"{step}.reuse", key="mlp_plan")
    assert isinstance(value, dict)
    return value


SALES = """
DROP TABLE IF EXISTS sales;
CREATE TABLE sales (
    id bigint PRIMARY KEY, price numeric(12, 3), sold_at timestamptz, tags jsonb, blob bytea, ref uuid,
    note text, qty int
);
INSERT INTO sales
SELECT g, (g * 1.125)::numeric(12, 3), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour',
       jsonb_build_object('g', g), decode(lpad(to_hex(g), 4, '0'), 'hex'),
       ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END, g % 7
FROM generate_series(1, 2500) g;
INSERT INTO sales VALUES (9999, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""

TRAIN = """\
import sys, os, pyarrow.parquet as pq
data, out = sys.argv[1], sys.argv[2]
table = pq.read_table(os.path.join(data, "data.parquet"))
open(os.path.join(out, "rows.txt"), "w").write(str(table.num_rows))
"""

PIPELINE = """\
name: {name}
datastores:
  warehouse: {{connection: {pg}}}
  lake: {{url: "s3://{s3}@{bucket}/{name}"}}
  local: {{url: data}}
steps:
  - name: export
    type: data_transfer
    source: {{datastore: warehouse, sql_table: sales}}
    destination: {{output: sales_parquet, datastore: lake}}
    {reuse}
  - name: train
    script: train.py
    source_directory: src
    arguments: [{{input: sales_parquet}}, {{output: model}}]
    outputs: [model]
  - name: publish
    type: data_transfer
    source: {{datastore: local, path: reports}}
    destination: {{datastore: lake, path: published/reports}}
    compute_target: adf
"""


def _pipeline(folder: Path, name: str, reuse: str = "") -> Path:
    _write(folder, name, PIPELINE.format(name=name, pg=PG, s3=S3, bucket=BUCKET, reuse=reuse))
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "train.py").write_text(TRAIN)
    reports = folder / "data" / "reports"
    (reports / "2024").mkdir(parents=True, exist_ok=True)
    (reports / "summary.txt").write_text("summary")
    (reports / "2024" / "q1.csv").write_text("a,b\n1,2\n")
    return folder


def test_postgres_table_to_parquet_on_s3_feeds_training_and_files_are_reused(
    scratch_dags: Path, connections: Path, postgres: PostgresServer, moto: MotoServer
) -> None:
    _pg(postgres, SALES)
    folder = _pipeline(scratch_dags, "dt_journey")
    states, run = _run(folder)
    assert _ran(states) == {"export", "train", "publish"}
    fs = moto.filesystem()
    url = _plan(run, "train")["inputs"]["sales_parquet"]
    key = url.split("@", 1)[1]
    with fs.open(f"{key}/data.parquet", "rb") as fh:
        table = pq.read_table(fh)
    assert table.num_rows == 2501
    schema = table.schema
    assert schema.field("price").type == pa.decimal128(12, 3)
    assert str(schema.field("sold_at").type) == "timestamp[us, tz=UTC]"
    assert schema.field("blob").type == pa.binary()
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows[8]["price"] == decimal.Decimal("9.000")
    assert json.loads(rows[3]["tags"]) == {"g": 3}
    assert rows[255]["blob"] == b"\x00\xff"
    assert str(schema.field("ref").type) == "extension<arrow.uuid>"  # Parquet's UUID logical type
    assert str(rows[12]["ref"]) == "00000000-0000-4000-8000-000000000012"
    assert str(schema.field("tags").type) == "extension<arrow.json>"  # jsonb as Parquet JSON
    assert all(v is None for k, v in rows[9999].items() if k != "id")
    # The fixed destination is exactly the path named, the folder's tree as it was.
    published = f"{BUCKET}/dt_journey/published/reports"
    assert sorted(p.split(published + "/")[1] for p in fs.find(published)) == ["2024/q1.csv", "summary.txt"]
    # Nothing changed: the file transfer and training are reused; the SQL source (no reuse_query) re-runs,
    # and since its output is identical, training stays reused.
    states, run = _run(folder)
    assert _ran(states) == {"export"}
    assert "no reuse_query" in json.dumps(_plan(run, "export")["fingerprint"])
    # A changed file re-runs the file transfer.
    (folder / "data" / "reports" / "summary.txt").write_text("summary v2")
    states, _ = _run(folder)
    assert _ran(states) == {"export", "publish"}
    with moto.filesystem().open(f"{published}/summary.txt", "rb") as fh:  # a fresh client: no cached tags
        assert fh.read() == b"summary v2"


def test_reuse_query_identifies_the_sql_source_state(
    scratch_dags: Path, connections: Path, postgres: PostgresServer
) -> None:
    _pg(postgres, SALES)
    folder = _pipeline(
        scratch_dags, "dt_reuse_query", reuse='reuse_query: "SELECT count(*), max(id) FROM sales"'
    )
    _run(folder)
    states, _ = _run(folder)
    assert _ran(states) == set()
    _pg(postgres, "INSERT INTO sales (id) VALUES (10000)")
    states, _ = _run(folder)
    assert _ran(states) == {"export", "train"}


LOAD = """\
name: {name}
datastores:
  warehouse: {{connection: {conn}}}
  local: {{url: data}}
steps:
  - name: load
    type: data_transfer
    source: {{datastore: local, path: scores.csv}}
    destination: {{datastore: warehouse, sql_table: scores}}
"""


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_csv_is_appended_to_an_existing_table_in_one_transaction(
    scratch_dags: Path, connections: Path, postgres: PostgresServer, database: str
) -> None:
    conn = PG if database == "postgres" else LITE
    create = "CREATE TABLE scores (name text NOT NULL, score double precision, day date)"

    def query(sql: str) -> list[tuple[Any, ...]]:
        if database == "postgres":
            return _pg(postgres, sql)
        with sqlite3.connect(connections) as lite:
            rows = lite.execute(sql).fetchall()
        return rows

    query("DROP TABLE IF EXISTS scores")
    query(create)
    query("INSERT INTO scores VALUES ('old', 1.0, '2024-01-01')")
    name = f"dt_load_{database}"
    _write(scratch_dags, name, LOAD.format(name=name, conn=conn))
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "scores.csv").write_text("day,name,score\n2024-02-01,a,0.5\n2024-02-02,b,\n")
    _run(scratch_dags)
    assert sorted(query("SELECT name, score FROM scores"), key=str) == sorted(
        [("old", 1.0), ("a", 0.5), ("b", None)], key=str
    )
    # An unchanged file is not loaded twice.
    states, _ = _run(scratch_dags)
    assert _ran(states) == set()
    # A row that does not fit fails the load, and nothing of the file is in the table.
    many = "".join(f"2024-03-{d:02d},r{d},{d}\n" for d in range(1, 28))
    (scratch_dags / "data" / "scores.csv").write_text("day,name,score\n" + many + "2024-03-28,,1\n")
    _run(scratch_dags, expect="failed")
    assert len(query("SELECT * FROM scores")) == 3


def test_mismatched_columns_and_missing_tables_are_clear_errors(
    scratch_dags: Path, connections: Path, postgres: PostgresServer, capfd: pytest.CaptureFixture[str]
) -> None:
    _pg(postgres, "DROP TABLE IF EXISTS scores", "CREATE TABLE scores (name text, score float8, day date)")
    _write(scratch_dags, "dt_bad_columns", LOAD.format(name="dt_bad_columns", conn=PG))
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "scores.csv").write_text("name,points\na,1\n")
    _run(scratch_dags, expect="failed")
    text = capfd.readouterr().out
    assert "step 'load', destination.sql_table" in text
    assert "['name', 'points']" in text
    assert "['name', 'score', 'day']" in text
    assert "missing: ['score', 'day']" in text
    assert "not in the table: ['points']" in text
    assert "dt_bad_columns.yaml:" in text


def _operator_context() -> Any:
    from tests.step_fakes import context

    return context({}, {})


def test_hand_written_operator_query_to_csv_and_sqlite_source(
    tmp_path: Path, connections: Path, postgres: PostgresServer, airflow_home: Path
) -> None:
    from airflow_mlpipelines.operators.data_transfer import DataTransferOperator

    _pg(postgres, SALES)
    out = tmp_path / "exports" / "cheap.csv"
    op = DataTransferOperator(
        task_id="export",
        source_conn_id=PG,
        source_query="SELECT id, price FROM sales WHERE price < 5 ORDER BY id",
        destination_url=str(out),
    )
    result = op.execute(_operator_context())
    assert result["rows"] == 4
    assert out.read_text().splitlines() == ['"id","price"', "1,1.125", "2,2.250", "3,3.375", "4,4.500"]
    assert not [p for p in out.parent.iterdir() if ".mlp-partial-" in p.name]
    with sqlite3.connect(connections) as lite:
        lite.execute("CREATE TABLE t (k integer, v text)")
        lite.executemany(
            "INSERT INTO t VALUES (?, ?)", [(i, None if i % 2 else f"v{i}") for i in range(1000)]
        )
    folder = tmp_path / "lite"
    op = DataTransferOperator(
        task_id="dump", source_conn_id=LITE, source_table="t", destination_url=str(folder)
    )
    assert op.execute(_operator_context())["rows"] == 1000
    table = pq.read_table(folder / "data.parquet")
    assert table.schema.field("v").type == pa.string()
    assert table.column("v").null_count == 500


def test_a_failing_query_names_the_step_field_and_database_message(
    tmp_path: Path, connections: Path, postgres: PostgresServer
) -> None:
    from airflow_mlpipelines.exceptions import StepExecutionError
    from airflow_mlpipelines.operators.data_transfer import DataTransferOperator

    op = DataTransferOperator(
        task_id="export",
        source_conn_id=PG,
        source_query="SELECT nope FROM sales",
        destination_url=str(tmp_path / "x"),
    )
    with pytest.raises(
        StepExecutionError, match=r"step 'export', source.sql_query: .*column \"nope\" does not exist"
    ):
        op.execute(_operator_context())
    assert not (tmp_path / "x").exists()
    op = DataTransferOperator(
        task_id="load", source_url=str(tmp_path), destination_conn_id=PG, destination_table="no_such_table"
    )
    (tmp_path / "a.csv").write_text("x\n1\n")
    with pytest.raises(
        StepExecutionError, match=r"destination.sql_table: table no_such_table cannot be read"
    ):
        op.execute(_operator_context())


def test_a_killed_copy_leaves_no_partial_file(tmp_path: Path, moto: MotoServer, connections: Path) -> None:
    """A copy that fails half-way (the source vanishes mid-read) leaves nothing under the final names."""
    from airflow_mlpipelines.connections import AirflowStorage
    from airflow_mlpipelines.runtime import transfer_files as tfiles

    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.bin").write_bytes(b"x" * 1000)
    storage = AirflowStorage()
    items = tfiles.source_files(storage.resolve(str(src)))
    (src / "f3.bin").unlink()  # listed, then gone: its copy fails
    dst = Path(tempfile.mkdtemp()) / "out"
    with pytest.raises(Exception, match=r"f3\.bin"):
        tfiles.copy_files(items, storage.resolve(str(dst)), as_file=False, say=print, what="copy")
    assert not dst.exists()
    assert not list(dst.parent.iterdir())
    remote = storage.resolve(f"s3://{S3}@{BUCKET}/killed")
    with pytest.raises(Exception, match=r"f3\.bin"):
        tfiles.copy_files(items, remote, as_file=False, say=print, what="copy")
    names = {p.rsplit("/", 1)[-1] for p in moto.filesystem().find(f"{BUCKET}/killed")}
    assert "f3.bin" not in names


def test_sql_to_sql_and_a_stored_procedure_source(
    tmp_path: Path, connections: Path, postgres: PostgresServer
) -> None:
    """PostgreSQL → SQLite (another database: the DB-API path, exact decimals and UUIDs as text), and a
    set-returning function as a stored procedure source."""
    from airflow_mlpipelines.operators.data_transfer import DataTransferOperator

    _pg(
        postgres,
        SALES,
        "CREATE OR REPLACE FUNCTION cheap_sales() RETURNS SETOF sales AS "
        "$$ SELECT * FROM sales WHERE price < 3 ORDER BY id $$ LANGUAGE sql",
    )
    with sqlite3.connect(connections) as lite:
        lite.execute("CREATE TABLE copied (id INTEGER, price NUMERIC, ref TEXT, sold_at TEXT)")
    op = DataTransferOperator(
        task_id="copy",
        source_conn_id=PG,
        source_query="SELECT id, price, ref, sold_at FROM sales WHERE id <= 10",
        destination_conn_id=LITE,
        destination_table="copied",
    )
    assert op.execute(_operator_context())["rows"] == 10
    with sqlite3.connect(connections) as lite:
        rows = lite.execute("SELECT id, price, ref FROM copied ORDER BY id").fetchall()
    assert rows[1] == (2, 2.25, "00000000-0000-4000-8000-000000000002")
    assert len(rows) == 10
    out = tmp_path / "cheap.parquet"
    op = DataTransferOperator(
        task_id="cheap", source_conn_id=PG, source_stored_procedure="cheap_sales", destination_url=str(out)
    )
    assert op.execute(_operator_context())["rows"] == 2
    assert pq.read_table(out).column("id").to_pylist() == [1, 2]


def test_an_unknown_connection_names_the_step_and_field(tmp_path: Path, connections: Path) -> None:
    from airflow_mlpipelines.exceptions import StepExecutionError
    from airflow_mlpipelines.operators.data_transfer import DataTransferOperator

    op = DataTransferOperator(
        task_id="export", source_conn_id="no_such_db", source_table="t", destination_url=str(tmp_path / "x")
    )
    with pytest.raises(
        StepExecutionError, match=r"step 'export', source.datastore: Airflow has no connection 'no_such_db'"
    ):
        op.execute(_operator_context())


def test_a_csv_loads_into_postgres_types_by_adbc(
    tmp_path: Path, connections: Path, postgres: PostgresServer
) -> None:
    """numeric, timestamptz, jsonb and uuid columns take a CSV's text (cast to the table's types)."""
    from airflow_mlpipelines.operators.data_transfer import DataTransferOperator

    _pg(
        postgres,
        "DROP TABLE IF EXISTS typed",
        "CREATE TABLE typed (amount numeric(8, 2), at timestamptz, doc jsonb, ref uuid, n int)",
    )
    (tmp_path / "typed.csv").write_text(
        "n,amount,at,doc,ref\n"
        '1,12.34,2024-05-01T10:00:00+02:00,"{""a"": 1}",00000000-0000-4000-8000-000000000001\n'
        "2,,,,\n"
    )
    op = DataTransferOperator(
        task_id="load",
        source_url=str(tmp_path / "typed.csv"),
        destination_conn_id=PG,
        destination_table="typed",
    )
    assert op.execute(_operator_context())["rows"] == 2
    rows = _pg(
        postgres, "SELECT n, amount::text, at AT TIME ZONE 'UTC', doc->>'a', ref::text FROM typed ORDER BY n"
    )
    assert rows[0][:2] == (1, "12.34")
    assert str(rows[0][2]) == "2024-05-01 08:00:00"
    assert rows[0][3:] == ("1", "00000000-0000-4000-8000-000000000001")
    assert rows[1] == (2, None, None, None, None)
