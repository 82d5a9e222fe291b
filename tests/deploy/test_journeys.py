"""The product's journeys on a distributed Airflow (issue 12): two Celery workers that share no folder with
each other or with the scheduler and API server, PostgreSQL, and S3 (moto) reached only through the
``mlp_s3`` Airflow connection for the datastore root, reuse manifests, leases and XCom frames.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.deploy import load
from tests.deploy.faults import StoreCut
from tests.deploy.servers import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.deploy.cluster import DistributedAirflow
    from tests.deploy.fixtures import DeploymentFactory

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
BUCKET, CONN = "mlp-deploy", "mlp_s3"
S3_ENV = {
    "AIRFLOW__MLPIPELINES__DATASTORE_ROOT": f"s3://{CONN}@{BUCKET}/datastore",
    "AIRFLOW__MLPIPELINES__XCOM_PATH": f"s3://{CONN}@{BUCKET}/xcom",
    "AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend",
    # A worker killed mid-step: its task is found without heartbeat quickly and retried once.
    "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
    "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    # A scheduler killed mid-run: the restarted one adopts the dead one's tasks once its heartbeat is
    # 10 s old (it looks at start-up and every 15 s).
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
    # A connection to a store that does not answer (a closed port), for the bad-configuration check.
    "AIRFLOW_CONN_MLP_S3_DOWN": json.dumps(
        {
            "conn_type": "aws",
            "login": "x",
            "password": "y",
            "extra": {
                "endpoint_url": "http://127.0.0.1:9",
                "region_name": "us-east-1",
                "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
            },
        }
    ),
}

FRAMES = """\
name: frames_across
datastores:
  examples: {url: data}
datasets:
  raw: {datastore: examples, path: raw/measurements.csv}
steps:
  - name: make
    type: execute_python_script
    queue: queue_a
    dataframe1: raw
    outputs: {dataframe: made}
    script: |
      import socket
      def azureml_main(df):
          df["doubled"] = df["sepal_length"] * 2
          return df,
  - name: use
    type: execute_python_script
    queue: queue_b
    dataframe1: made
    outputs: {dataframe: used}
    script: |
      import pandas as pd
      def azureml_main(df):
          return pd.DataFrame({"rows": [len(df)], "total": [float(df["doubled"].sum())]}),
"""
SLOW = """\
name: {name}
steps:
  - name: slow
    script: slow.py
    source_directory: src/slow
    arguments: ["{seconds}", {{output: result}}]
    outputs: [result]
  - name: after
    script: after.py
    source_directory: src/slow
    arguments: [{{input: result}}, {{output: checked}}]
    outputs: [checked]
"""
SLOW_SCRIPT = """\
import os, sys, time
out = sys.argv[2]
for i in range(int(float(sys.argv[1]))):
    open(os.path.join(out, f"part{i}.txt"), "w").write(str(i))
    time.sleep(1)
open(os.path.join(out, "done.txt"), "w").write("done")
"""
AFTER_SCRIPT = """\
import os, sys
names = sorted(os.listdir(sys.argv[1]))
open(os.path.join(sys.argv[2], "seen.txt"), "w").write(",".join(names))
"""
BIG = """\
import os, sys
out = sys.argv[1]
for i in range(int(sys.argv[2])):
    with open(os.path.join(out, f"chunk{i:02d}.bin"), "wb") as fh:
        fh.write(os.urandom(1 << 20))
"""
STORE_CUT = """\
name: store_cut
datastores:
  flaky: {url: "s3://mlp_s3_flaky@mlp-deploy/flaky"}
steps:
  - name: big
    script: big.py
    source_directory: src/slow
    arguments: [{output: chunks}, "24"]
    outputs: [{name: chunks, datastore: flaky}]
    retries: 1
    retry_delay_seconds: 20
  - name: after
    script: after.py
    source_directory: src/slow
    arguments: [{input: chunks}, {output: checked}]
    outputs: [checked]
"""
BAD = """\
name: {name}
datastores:
  elsewhere: {{url: "{url}"}}
steps:
  - name: write
    script: slow.py
    source_directory: src/slow
    arguments: ["0", {{output: result}}]
    outputs: [{{name: result, datastore: elsewhere}}]
"""

TRANSFER = f"""\
name: transfer_journey
datastores:
  warehouse: {{connection: mlp_warehouse}}
  lake: {{url: "s3://{CONN}@{BUCKET}/lake"}}
steps:
  - name: export
    type: data_transfer
    queue: queue_a
    source: {{datastore: warehouse, sql_query: "SELECT id, amount, sold_at FROM dt_sales ORDER BY id"}}
    destination: {{output: sales_parquet, datastore: lake}}
  - name: train
    script: train.py
    source_directory: src/transfer_journey
    queue: queue_b
    arguments: [{{input: sales_parquet}}, {{output: model}}]
    outputs: [model]
  - name: load
    type: data_transfer
    source: {{datastore: lake, path: incoming/scores.csv}}
    destination: {{datastore: warehouse, sql_table: dt_scores}}
"""
TRAIN = """\
import os, sys, pyarrow.parquet as pq
table = pq.read_table(os.path.join(sys.argv[1], "data.parquet"))
total = sum(table.column("amount").to_pylist())
open(os.path.join(sys.argv[2], "model.txt"), "w").write(f"{table.num_rows} {total}")
"""


def _dags(root: Path) -> Path:
    dags = root / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "definitions" / "src" / "slow").mkdir()
    (dags / "definitions" / "src" / "slow" / "slow.py").write_text(SLOW_SCRIPT)
    (dags / "definitions" / "src" / "slow" / "after.py").write_text(AFTER_SCRIPT)
    (dags / "definitions" / "src" / "slow" / "big.py").write_text(BIG)
    (dags / "definitions" / "src" / "transfer_journey").mkdir()
    (dags / "definitions" / "src" / "transfer_journey" / "train.py").write_text(TRAIN)
    definitions = {
        "frames_across": FRAMES,
        "dedupe_across": SLOW.format(name="dedupe_across", seconds=12),
        "kill_worker": SLOW.format(name="kill_worker", seconds=25),
        "kill_scheduler": SLOW.format(name="kill_scheduler", seconds=20),
        "store_cut": STORE_CUT,
        "transfer_journey": TRANSFER,
        "bad_bucket": BAD.format(name="bad_bucket", url=f"s3://{CONN}@no-such-bucket/x"),
        "bad_connection": BAD.format(name="bad_connection", url="s3://no_such_conn@mlp-deploy/x"),
        "store_down": BAD.format(name="store_down", url="s3://mlp_s3_down@mlp-deploy/x"),
    }
    load.write_dags(dags)
    for name, text in definitions.items():
        (dags / "definitions" / f"{name}.yaml").write_text(text)
        (dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/{name}.yaml"))
    return dags


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, distributed_airflow_factory: DeploymentFactory
) -> Iterator[DistributedAirflow]:
    dags = _dags(tmp_path_factory.mktemp("journeys"))
    # The flaky connection reaches the same moto through a proxy the store-cut test can cut.
    holder: dict[str, DistributedAirflow] = {}
    cut = StoreCut(lambda: (LOOPBACK, holder["airflow"].moto.port))
    cut.start()
    flaky = {
        "conn_type": "aws",
        "login": "mlp-test-key",
        "password": "any",
        "extra": {
            "endpoint_url": cut.endpoint_url,
            "region_name": "us-east-1",
            "config_kwargs": {"retries": {"max_attempts": 2}, "connect_timeout": 2, "read_timeout": 10},
        },
    }
    env = {**S3_ENV, "AIRFLOW_CONN_MLP_S3_FLAKY": json.dumps(flaky)}
    airflow = distributed_airflow_factory(dags, extra_env=env)
    holder["airflow"] = airflow
    airflow.store_cut = cut  # type: ignore[attr-defined]
    dag_ids = ["seed004_yaml", "plots_report", "frames_across", "dedupe_across", "kill_worker", "bad_bucket"]
    dag_ids += [
        "bad_connection",
        "store_down",
        "kill_scheduler",
        "store_cut",
        "transfer_journey",
        load.PIPELINE,
    ]
    airflow.wait_for_dags(dag_ids, timeout=180)
    for dag_id in dag_ids:
        airflow.unpause(dag_id)
    yield airflow
    distributed_airflow_factory.release(airflow)
    cut.close()


def _ran(airflow: DistributedAirflow, dag_id: str, run_id: str) -> set[str]:
    states = airflow.task_instances(dag_id, run_id)
    return {t.rsplit(".", 1)[0] for t, s in states.items() if t.endswith(".run") and s == "success"}


def _plan(airflow: DistributedAirflow, dag_id: str, run_id: str, step: str) -> dict[str, Any]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{step}.reuse/xcomEntries/mlp_plan"
    value = airflow.get(path).json()["value"]
    plan: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return plan


def _s3_text(airflow: DistributedAirflow, url: str) -> str:
    key = url.split(f"@{BUCKET}/", 1)[1]
    body: bytes = airflow.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body.decode()


def test_seed004_runs_then_is_reused_then_reruns_only_what_changed(deployment: DistributedAirflow) -> None:
    started = time.time()
    first = deployment.trigger_and_wait("seed004_yaml", timeout=300)
    assert first["state"] == "success", deployment.task_instances("seed004_yaml", first["dag_run_id"])
    assert _ran(deployment, "seed004_yaml", first["dag_run_id"]) == {
        "prepare",
        "train",
        "baseline",
        "compare",
    }
    compare = _plan(deployment, "seed004_yaml", first["dag_run_id"], "compare")
    assert compare["outputs"]["comparison"].startswith(f"s3://{CONN}@{BUCKET}/datastore/")
    assert compare["manifest"].startswith(f"s3://{CONN}@{BUCKET}/datastore/_manifests/seed004_yaml/compare/")
    result = _s3_text(deployment, compare["outputs"]["comparison"] + "/comparison.json")
    assert json.loads(result)["best"] == "training_results"
    # Nothing of the run went to a component's disk: outputs, manifests, leases and frames are in S3.
    written = deployment.files(since=started)
    stray = [
        p for paths in written.values() for p in paths if "mlpipelines" in p.parts and "cache" not in p.parts
    ]
    assert stray == []

    again = deployment.trigger_and_wait("seed004_yaml", timeout=300)
    assert again["state"] == "success"
    assert _ran(deployment, "seed004_yaml", again["dag_run_id"]) == set()  # 0 step processes
    log = deployment.task_log("seed004_yaml", again["dag_run_id"], "train.reuse")
    assert f"reused train from seed004_yaml/{first['dag_run_id']}" in log

    script = deployment.dags_source / "definitions" / "src" / "compare" / "compare.py"
    script.write_text(script.read_text() + "\n# changed\n")
    deployment.sync_dags()
    changed = deployment.trigger_and_wait("seed004_yaml", timeout=300)
    assert changed["state"] == "success"
    assert _ran(deployment, "seed004_yaml", changed["dag_run_id"]) == {"compare"}
    log = deployment.task_log("seed004_yaml", changed["dag_run_id"], "compare.reuse")
    assert "not reused: source file compare.py changed" in log


def test_a_dataframe_crosses_from_one_worker_to_the_other(deployment: DistributedAirflow) -> None:
    run = deployment.trigger_and_wait("frames_across", timeout=300)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", deployment.task_instances("frames_across", run_id)
    make = deployment.task_instance("frames_across", run_id, "make.run")
    use = deployment.task_instance("frames_across", run_id, "use.run")
    assert (make["queue"], use["queue"]) == ("queue_a", "queue_b")
    assert make["hostname"].endswith("worker-a")
    assert use["hostname"].endswith("worker-b")
    used = _plan(deployment, "frames_across", run_id, "use")["outputs"]["used"]
    with deployment.s3fs().open(used.replace(f"s3://{CONN}@", "") + "/data.parquet", "rb") as fh:
        import pandas as pd

        frame = pd.read_parquet(fh)
    assert frame["rows"].tolist() == [60]
    # The run task's DataFrame went through the XCom backend into S3 (a typed reference in the row).
    entry = deployment.get(
        f"/api/v2/dags/frames_across/dagRuns/{run_id}/taskInstances/use.run/xcomEntries/return_value"
    )
    ref = entry.json()["value"]
    ref = json.loads(ref) if isinstance(ref, str) else ref
    assert ref["__mlp_ref__"] == 1
    assert ref["uri"].startswith(f"s3://{CONN}@{BUCKET}/xcom/")


def test_two_runs_together_execute_their_shared_step_once(deployment: DistributedAirflow) -> None:
    responses = [deployment.trigger("dedupe_across"), deployment.trigger("dedupe_across")]
    runs = [deployment.wait_for_run("dedupe_across", r.json()["dag_run_id"], timeout=300) for r in responses]
    assert [r["state"] for r in runs] == ["success", "success"]
    states = sorted(deployment.task_instances("dedupe_across", r["dag_run_id"])["slow.run"] for r in runs)
    assert states == ["skipped", "success"]
    waiter = next(
        r
        for r in runs
        if deployment.task_instances("dedupe_across", r["dag_run_id"])["slow.run"] == "skipped"
    )
    log = deployment.task_log("dedupe_across", waiter["dag_run_id"], "slow.reuse")
    # The wait was deferred; the API server shows the log of the worker that resumed the task (each
    # worker keeps its own log files), which starts where the trigger fired.
    assert "waiting: step slow with fingerprint" in log or "the wait for step slow ended: committed" in log
    assert "reused slow from dedupe_across/" in log
    leases = [
        k for k in deployment.s3_keys("datastore/_manifests/dedupe_across/") if k.endswith("lease.json")
    ]
    assert leases
    for key in leases:
        record = json.loads(deployment.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        assert record.get("released") is True, record


def test_a_killed_worker_is_retried_elsewhere_and_no_partial_output_is_read(
    deployment: DistributedAirflow,
) -> None:
    run_id = deployment.trigger("kill_worker").json()["dag_run_id"]
    deployment.poll(
        "slow.run running",
        lambda: deployment.task_instances("kill_worker", run_id).get("slow.run") == "running",
        timeout=120,
    )
    time.sleep(6)  # a few part files are written
    first = deployment.task_instance("kill_worker", run_id, "slow.run")
    victim = "a" if first["hostname"].endswith("worker-a") else "b"
    deployment.worker(victim).kill()
    try:
        run = deployment.wait_for_run("kill_worker", run_id, timeout=360)
    finally:
        deployment.worker(victim).restart()
    assert run["state"] == "success", deployment.task_instances("kill_worker", run_id)
    retried = deployment.task_instance("kill_worker", run_id, "slow.run")
    assert retried["try_number"] == 2
    assert not retried["hostname"].endswith(f"worker-{victim}")
    plan = _plan(deployment, "kill_worker", run_id, "slow")
    key = plan["manifest"].split(f"@{BUCKET}/", 1)[1] + "/manifest.json"
    manifest = json.loads(deployment.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    files = {f["path"] for f in manifest["outputs"]["result"]["files"]}
    assert files == {f"part{i}.txt" for i in range(25)} | {"done.txt"}
    seen = _s3_text(
        deployment, _plan(deployment, "kill_worker", run_id, "after")["outputs"]["checked"] + "/seen.txt"
    )
    assert set(seen.split(",")) == files  # the consumer read exactly the committed files


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        ("bad_bucket", "the bucket or container 'no-such-bucket' does not exist"),
        ("bad_connection", "Airflow has no connection 'no_such_conn'"),
        ("store_down", "the store cannot be reached"),
    ],
)
def test_bad_storage_configuration_is_one_clear_error(
    deployment: DistributedAirflow, dag_id: str, message: str
) -> None:
    run = deployment.trigger_and_wait(dag_id, timeout=240)
    assert run["state"] == "failed"
    states = deployment.task_instances(dag_id, run["dag_run_id"])
    assert states["write.reuse"] == "failed"
    log = deployment.task_log(dag_id, run["dag_run_id"], "write.reuse", try_number=2)
    assert message in log
    assert "step 'write'" in log or "datastore" in log
    assert not [k for k in deployment.s3_keys(f"datastore/_manifests/{dag_id}/")]  # nothing committed


def test_step_pages_show_outputs_read_from_object_storage(
    deployment: DistributedAirflow, tmp_path: Path
) -> None:
    """The API server has no copy of any output: it reads PNGs and previews through the connection."""
    from tests.e2e.browser import Browser
    from tests.e2e.test_ui_plugin_e2e import FIGURES, PAGE_IMAGES, _keep

    run = deployment.trigger_and_wait("plots_report", timeout=300)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", deployment.task_instances("plots_report", run_id)
    plan = _plan(deployment, "plots_report", run_id, "report")
    assert plan["outputs"]["figures"].startswith(f"s3://{CONN}@{BUCKET}/")
    links = deployment.get(
        f"/api/v2/dags/plots_report/dagRuns/{quote(run_id, safe='')}/taskInstances/report.run/links"
    )
    link = links.json()["extra_links"]["Step outputs"]
    token = str(deployment.client.headers["Authorization"]).removeprefix("Bearer ")
    with Browser(tmp_path / "profile") as browser:
        browser.set_cookie(deployment.base_url, "_token", token)
        browser.open(deployment.base_url + link)
        images = browser.wait_for(PAGE_IMAGES, timeout=60)
        assert sorted(i["src"].rsplit("/", 1)[-1] for i in images) == FIGURES, images
        assert all(i["width"] > 0 and i["height"] > 0 for i in images), images
        text = browser.evaluate("document.body.innerText")
        assert "3 rows × 9 columns" in text
        assert "petal_length_mean" in text
        assert f"s3://{CONN}@{BUCKET}/" in text
        _keep(browser.screenshot(tmp_path / "ui-step-page-s3.png"))


def _manifest_files(
    airflow: DistributedAirflow, dag_id: str, run_id: str, step: str, output: str
) -> set[str]:
    plan = _plan(airflow, dag_id, run_id, step)
    key = plan["manifest"].split(f"@{BUCKET}/", 1)[1] + "/manifest.json"
    manifest = json.loads(airflow.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return {f["path"] for f in manifest["outputs"][output]["files"]}


def test_a_killed_scheduler_restarts_and_the_run_completes_with_no_step_run_twice(
    deployment: DistributedAirflow,
) -> None:
    run_id = deployment.trigger("kill_scheduler").json()["dag_run_id"]
    deployment.poll(
        "slow.run running",
        lambda: deployment.task_instances("kill_scheduler", run_id).get("slow.run") == "running",
        timeout=120,
    )
    time.sleep(3)
    scheduler = deployment.component("scheduler")
    scheduler.kill()  # kill -9 of the scheduler's whole process tree, mid-step
    deployment.poll("the scheduler gone", lambda: not scheduler.alive(), timeout=30)
    # The step goes on without a scheduler; once the dead scheduler's heartbeat is older than the health
    # threshold, the new one adopts its tasks from Celery instead of resetting them.
    time.sleep(12)
    assert deployment.task_instances("kill_scheduler", run_id).get("slow.run") in {"running", "success"}
    try:
        scheduler.start()
        deployment.poll("a healthy scheduler again", lambda: deployment.healthy(("scheduler",)), timeout=120)
        run = deployment.wait_for_run("kill_scheduler", run_id, timeout=300)
    finally:
        if not scheduler.alive():
            scheduler.start()
    assert run["state"] == "success", deployment.task_instances("kill_scheduler", run_id)
    for task_id in ("slow.run", "after.run"):
        ti = deployment.task_instance("kill_scheduler", run_id, task_id)
        assert (ti["state"], ti["try_number"]) == ("success", 1), ti  # each step executed exactly once
    files = _manifest_files(deployment, "kill_scheduler", run_id, "slow", "result")
    assert files == {f"part{i}.txt" for i in range(20)} | {"done.txt"}
    seen = _s3_text(
        deployment, _plan(deployment, "kill_scheduler", run_id, "after")["outputs"]["checked"] + "/seen.txt"
    )
    assert set(seen.split(",")) == files


def test_the_store_stopped_mid_upload_fails_the_step_clearly_and_the_retry_commits(
    deployment: DistributedAirflow,
) -> None:
    cut: StoreCut = deployment.store_cut  # type: ignore[attr-defined]
    run_id = deployment.trigger("store_cut").json()["dag_run_id"]
    deployment.poll(
        "big.run running",
        lambda: deployment.task_instances("store_cut", run_id).get("big.run") == "running",
        timeout=120,
    )
    cut.cut_after(6 << 20)  # of the 24 MiB the step uploads
    try:
        deployment.poll(
            "big.run failed once",
            lambda: deployment.task_instances("store_cut", run_id).get("big.run") == "up_for_retry",
            timeout=180,
        )
        assert cut.cut_happened.is_set()
        log = deployment.task_log("store_cut", run_id, "big.run", try_number=1)
        assert "cannot upload to s3://mlp_s3_flaky@mlp-deploy/flaky/" in log, log[-3000:]
        # Nothing of the partial output was committed.
        assert [
            k for k in deployment.s3_keys("datastore/_manifests/store_cut/") if k.endswith("manifest.json")
        ] == []
        assert deployment.s3_keys("flaky/")  # some chunks did reach the store before it stopped
    finally:
        cut.restore()
    run = deployment.wait_for_run("store_cut", run_id, timeout=300)
    assert run["state"] == "success", deployment.task_instances("store_cut", run_id)
    assert deployment.task_instance("store_cut", run_id, "big.run")["try_number"] == 2
    files = _manifest_files(deployment, "store_cut", run_id, "big", "chunks")
    assert files == {f"chunk{i:02d}.bin" for i in range(24)}
    seen = _s3_text(
        deployment, _plan(deployment, "store_cut", run_id, "after")["outputs"]["checked"] + "/seen.txt"
    )
    assert set(seen.split(",")) == files  # the consumer read the retry's complete output


def test_a_burst_of_runs_computes_each_fingerprint_once_and_leaves_no_lease(
    deployment: DistributedAirflow,
) -> None:
    """Issue 16's load test at CI size (``benchmarks/load.py`` runs the full 50 and measures)."""
    seeds = [i % 3 for i in range(9)]
    result = load.burst(deployment, load.PIPELINE, seeds, timeout=900)
    assert result.states == ["success"] * len(seeds)
    assert load.executions(deployment, result) == {(s, seed): 1 for s in load.STEPS for seed in set(seeds)}
    texts = load.results(deployment, result, BUCKET)
    assert texts == {r: load.expected_result(s) for r, s in zip(result.run_ids, result.seeds, strict=True)}
    assert load.open_leases(deployment, BUCKET, f"datastore/_manifests/{load.PIPELINE}/") == []


def _warehouse(airflow: DistributedAirflow, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg2

    pg = airflow.postgres
    conn = psycopg2.connect(
        host=LOOPBACK, port=pg.port, user=pg.user, password=pg.password, dbname=pg.database
    )
    try:
        rows: list[tuple[Any, ...]] = []
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def test_postgres_to_parquet_on_s3_trains_and_a_csv_loads_into_postgres(
    deployment: DistributedAirflow,
) -> None:
    """Issue 13's journeys through REST: a table exported to Parquet on S3 (worker A) feeds training
    (worker B); a CSV on the S3 datastore is appended to a table; a re-run reuses the unchanged file
    transfer and re-runs the SQL export (no reuse_query)."""
    pg = deployment.postgres
    response = deployment.post(
        "/api/v2/connections",
        json={
            "connection_id": "mlp_warehouse",
            "conn_type": "postgres",
            "host": LOOPBACK,
            "port": pg.port,
            "login": pg.user,
            "password": pg.password,
            "schema": pg.database,
        },
    )
    assert response.status_code in (200, 201, 409), response.text
    _warehouse(
        deployment,
        "DROP TABLE IF EXISTS dt_sales, dt_scores",
        "CREATE TABLE dt_sales (id int, amount numeric(10, 2), sold_at timestamptz)",
        "INSERT INTO dt_sales SELECT g, g * 0.5, now() FROM generate_series(1, 1000) g",
        "CREATE TABLE dt_scores (name text NOT NULL, score float8)",
    )
    with deployment.s3fs().open(f"{BUCKET}/lake/incoming/scores.csv", "wb") as fh:
        fh.write(b"score,name\n0.5,a\n0.75,b\n")
    first = deployment.trigger_and_wait("transfer_journey", timeout=300)
    run_id = first["dag_run_id"]
    assert first["state"] == "success", deployment.task_instances("transfer_journey", run_id)
    assert _ran(deployment, "transfer_journey", run_id) == {"export", "train", "load"}
    assert deployment.task_instance("transfer_journey", run_id, "export.run")["hostname"].endswith("worker-a")
    assert deployment.task_instance("transfer_journey", run_id, "train.run")["hostname"].endswith("worker-b")
    model = _plan(deployment, "transfer_journey", run_id, "train")["outputs"]["model"]
    assert (
        _s3_text(deployment, model + "/model.txt") == "1000 250250.00"
    )  # numeric(10, 2) arrived as an exact decimal
    assert sorted(_warehouse(deployment, "SELECT name, score FROM dt_scores")) == [("a", 0.5), ("b", 0.75)]
    log = deployment.task_log("transfer_journey", run_id, "export.run")
    assert "through ADBC (Arrow-native)" in log
    assert "1,000 rows in" in log

    again = deployment.trigger_and_wait("transfer_journey", timeout=300)
    assert again["state"] == "success"
    assert _ran(deployment, "transfer_journey", again["dag_run_id"]) == {"export"}
    log = deployment.task_log("transfer_journey", again["dag_run_id"], "export.reuse")
    assert "the SQL source has no reuse_query, so the transfer runs on every run" in log
    assert (
        len(_warehouse(deployment, "SELECT * FROM dt_scores")) == 2
    )  # the unchanged CSV is not appended again
