"""Step reuse on a real Airflow: first run vs identical re-run, against Airflow's own no-op floor.

Run: ``.venv/bin/python benchmarks/reuse.py [--deployment standalone|celery] [--sleep 5]
[--tree-mb 1024 --tree-files 10000]``

1. Starts Airflow — ``airflow standalone`` (SQLite, LocalExecutor), or with ``--deployment celery`` the
   distributed test deployment (PostgreSQL, Redis, two Celery workers with separate homes, datastore
   root, manifests, leases and XCom frames on S3 (moto) through an Airflow connection) — with a 5-step
   chained pipeline whose steps each sleep ``--sleep`` seconds and append to a counter file, plus a
   hand-written DAG of 5 chained no-op PythonOperator tasks (the floor: what a fully reused run cannot
   beat), triggers the pipeline twice and the floor once through the REST API, and prints wall times,
   ratios and the processes started.
2. Fingerprints a generated source tree of ``--tree-files`` files / ``--tree-mb`` MB cold (no digest
   cache) and warm (cache loaded from disk), the way the reuse sensor does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from airflow_mlpipelines.cli import STUB_TEMPLATE  # noqa: E402
from airflow_mlpipelines.devserver import AirflowRestClient  # noqa: E402
from airflow_mlpipelines.devserver import StandaloneAirflow as AirflowServer  # noqa: E402
from airflow_mlpipelines.reuse.source_tree import DigestCache, hash_tree  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

STEPS = 5

STEP_SCRIPT = """\
import os, sys, time
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "calls.log"), "a") as fh:
    fh.write(sys.argv[2] + "\\n")
time.sleep(float(sys.argv[3]))
src = sys.argv[4] if len(sys.argv) > 4 else None
data = open(os.path.join(src, "data.txt")).read() if src else ""
open(os.path.join(sys.argv[1], "data.txt"), "w").write(data + sys.argv[2])
"""

FLOOR_DAG = """\
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator

with DAG("noop_floor", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False) as dag:
    previous = None
    for i in range(5):
        task = PythonOperator(task_id=f"t{i}", python_callable=lambda: None)
        if previous is not None:
            previous >> task
        previous = task
"""


STORE_FLOOR_DAG = """\
import datetime
from airflow.sdk import DAG, ObjectStoragePath
from airflow.providers.standard.operators.python import PythonOperator

URL = "{url}"


def read_one():
    ObjectStoragePath(URL).read_bytes()


with DAG("store_floor", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False) as dag:
    previous = None
    for i in range(5):
        task = PythonOperator(task_id=f"t{{i}}", python_callable=read_one)
        if previous is not None:
            previous >> task
        previous = task
"""
"""The floor with storage: 5 chained tasks that each read one small object from the datastore root's
store through the same connection (what any reuse check must at least do), so the re-run can also be
compared with what touching the store costs a fresh task process."""


def write_dags(folder: Path, sleep: float) -> None:
    (folder / "definitions" / "src").mkdir(parents=True)
    (folder / ".airflowignore").write_text("definitions/\n")
    (folder / "definitions" / "src" / "step.py").write_text(STEP_SCRIPT)
    lines = ["name: reuse_bench", "steps:"]
    for i in range(STEPS):
        args = [f"{{output: o{i}}}", f'"s{i}"', f'"{sleep}"'] + ([f"{{input: o{i - 1}}}"] if i else [])
        lines += [
            f"  - name: s{i}",
            "    script: step.py",
            "    source_directory: src",
            f"    arguments: [{', '.join(args)}]",
            f"    outputs: [o{i}]",
        ]
    (folder / "definitions" / "reuse_bench.yaml").write_text("\n".join(lines) + "\n")
    (folder / "reuse_bench.py").write_text(STUB_TEMPLATE.format(definition="definitions/reuse_bench.yaml"))
    (folder / "noop_floor.py").write_text(FLOOR_DAG)


def write_store_floor(folder: Path, url: str) -> None:
    """The storage floor DAG, reading ``url``."""
    (folder / "store_floor.py").write_text(STORE_FLOOR_DAG.format(url=url))


def timed_run(server: AirflowRestClient, dag_id: str) -> tuple[float, dict[str, str | None]]:
    started = time.monotonic()
    run = server.trigger_and_wait(dag_id, timeout=900)
    elapsed = time.monotonic() - started
    if run["state"] != "success":
        raise SystemExit(f"{dag_id} run {run['dag_run_id']} ended {run['state']}")
    durations = [
        ti["duration"]
        for ti in server.all(
            f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances", "task_instances"
        )
        if ti.get("duration") and ti["state"] == "success"
    ]
    if durations:
        print(
            f"  {dag_id}: {len(durations)} tasks ran, {sum(durations) / len(durations):.2f} s each on average"
        )
    return elapsed, server.task_instances(dag_id, run["dag_run_id"])


def calls(folders: list[Path]) -> int:
    """Step executions since the last call, counted in every worker's copy of the DAGs folder."""
    count = 0
    for folder in folders:
        log = folder / "definitions" / "calls.log"
        count += len(log.read_text().splitlines()) if log.exists() else 0
        log.unlink(missing_ok=True)
    return count


S3_ENV = {
    "AIRFLOW__MLPIPELINES__DATASTORE_ROOT": "s3://mlp_s3@mlp-deploy/datastore",
    "AIRFLOW__MLPIPELINES__XCOM_PATH": "s3://mlp_s3@mlp-deploy/xcom",
    "AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend",
}


@contextlib.contextmanager
def deployment(kind: str, root: Path, dags: Path) -> Iterator[tuple[AirflowRestClient, list[Path]]]:
    """A running Airflow of ``kind`` and the DAGs folders its workers read (where calls.log appears)."""
    if kind == "standalone":
        with AirflowServer(root / "home", dags) as server:
            yield server, [dags]
        return
    from tests.deploy.cluster import DistributedAirflow

    with DistributedAirflow(root / "cluster", dags, extra_env=S3_ENV) as cluster:
        yield cluster, [w.dags for w in cluster.workers()]


def airflow_part(root: Path, sleep: float, kind: str) -> None:
    dags = root / "dags"
    write_dags(dags, sleep)
    marker = root / "store-floor.txt"
    marker.write_text("x")
    url = (
        str(marker) if kind == "standalone" else S3_ENV["AIRFLOW__MLPIPELINES__DATASTORE_ROOT"] + "/floor.txt"
    )
    write_store_floor(dags, url)
    with deployment(kind, root, dags) as (server, folders):
        if kind != "standalone":
            cluster: Any = server
            cluster.s3.put_object(Bucket=cluster.bucket, Key="datastore/floor.txt", Body=b"x")
        server.wait_for_dags(["reuse_bench", "noop_floor", "store_floor"])
        for dag_id in ("reuse_bench", "noop_floor", "store_floor"):
            server.unpause(dag_id)
        first, _ = timed_run(server, "reuse_bench")  # also warms the executor's workers up
        first_calls = calls(folders)
        floor, _ = timed_run(server, "noop_floor")
        store_floor, _ = timed_run(server, "store_floor")
        second, states = timed_run(server, "reuse_bench")
        second_calls = calls(folders)
        skipped = sum(1 for t, s in states.items() if t.endswith(".run") and s == "skipped")
    where = (
        "standalone, SQLite, LocalExecutor"
        if kind == "standalone"
        else "2 Celery workers, PostgreSQL, Redis, S3 through a connection"
    )
    print(f"Reuse on a real Airflow ({where}): {STEPS} chained steps of {sleep:g} s")
    print(f"{'run':34s} {'wall s':>7s} {'step processes':>15s}")
    print(f"{'no-op floor (5 PythonOperators)':34s} {floor:7.1f} {'-':>15s}")
    print(f"{'storage floor (5 tasks read 1 obj)':34s} {store_floor:7.1f} {'-':>15s}")
    print(f"{'first run':34s} {first:7.1f} {first_calls:15d}")
    print(f"{'identical re-run':34s} {second:7.1f} {second_calls:15d}")
    print(f"re-run / first run: {second / first:.2f}   (goal <= 0.10)")
    print(f"re-run / no-op floor: {second / floor:.2f}   (goal <= 1.3)")
    print(f"re-run / storage floor: {second / store_floor:.2f}")
    print(f"compute tasks skipped in the re-run: {skipped}/{STEPS}; step processes: {second_calls} (goal 0)")


def tree_part(root: Path, megabytes: int, files: int) -> None:
    tree = root / "tree"
    size = megabytes * 1024 * 1024 // files
    block = os.urandom(size)
    for i in range(files):
        folder = tree / f"d{i // 500}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.bin").write_bytes(block[i % 97 :] + block[: i % 97])
    cache_path = root / "digests.json"
    started = time.perf_counter()
    cold_cache = DigestCache.load(str(cache_path))
    cold = hash_tree(str(tree), cold_cache)
    cold_cache.save()
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = hash_tree(str(tree), DigestCache.load(str(cache_path)))
    warm_s = time.perf_counter() - started
    assert warm.digest == cold.digest
    print(f"Source-tree fingerprint: {files} files, {megabytes} MB")
    print(
        f"  cold (no digest cache; files in the page cache): {cold_s:6.2f} s  ({megabytes / cold_s:.0f} MB/s)"
    )
    print(f"  warm (digest cache read from disk):              {warm_s:6.2f} s  (goal <= 1 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sleep", type=float, default=5.0, help="seconds each step works")
    parser.add_argument("--tree-mb", type=int, default=1024)
    parser.add_argument("--tree-files", type=int, default=10_000)
    parser.add_argument("--skip-airflow", action="store_true")
    parser.add_argument("--deployment", choices=("standalone", "celery"), default="standalone")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlp-bench-reuse-"))
    try:
        if not args.skip_airflow:
            airflow_part(root, args.sleep, args.deployment)
        tree_part(root, args.tree_mb, args.tree_files)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
