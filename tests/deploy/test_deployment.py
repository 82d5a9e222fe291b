"""The distributed deployment itself: two tasks on two Celery workers, XCom between them, a worker's log
through the API server, an object in S3 through the ``aws`` connection, and nothing written outside each
process's own folders."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.deploy.cluster import DistributedAirflow
    from tests.deploy.fixtures import DeploymentFactory

pytestmark = pytest.mark.e2e

DAG_ID = "deploy_smoke"

SMOKE_DAG = """
import os
import tempfile

from airflow.sdk import ObjectStoragePath, dag, task


def where() -> dict:
    return {"home": os.environ["HOME"], "cwd": os.getcwd(), "tempdir": tempfile.gettempdir(),
            "airflow_home": os.environ["AIRFLOW_HOME"]}


@dag(dag_id="deploy_smoke", schedule=None, catchup=False)
def deploy_smoke():
    @task(queue="queue_a")
    def produce(**context) -> dict:
        token = context["dag_run"].conf["token"]
        with tempfile.NamedTemporaryFile("w", prefix="deploy-smoke-", delete=False) as scratch:
            scratch.write(token)
        ObjectStoragePath(context["dag_run"].conf["url"]).write_text(f"smoke {token}")
        print(f"deploy smoke produced {token}")
        return {"token": token, "scratch": scratch.name, **where()}

    @task(queue="queue_b")
    def consume(produced: dict) -> dict:
        print(f"deploy smoke consumed {produced['token']}")
        return {"token": produced["token"], **where()}

    consume(produce())


deploy_smoke()
"""


@pytest.fixture(scope="module")
def smoke_airflow(
    tmp_path_factory: pytest.TempPathFactory, distributed_airflow_factory: DeploymentFactory
) -> Iterator[DistributedAirflow]:
    dags = tmp_path_factory.mktemp("deploy-smoke-dags")
    (dags / "deploy_smoke.py").write_text(SMOKE_DAG)
    deployment = distributed_airflow_factory(dags)
    yield deployment
    distributed_airflow_factory.release(deployment)


def _files_containing(paths: list[Path], token: str) -> list[Path]:
    needle = token.encode()
    found = []
    for path in paths:
        try:
            if path.stat().st_size < 10_000_000 and needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def _new_files_in_system_tmp(since: float, skip: list[Path]) -> list[Path]:
    """Files under the machine's temp folder modified since ``since``, outside the folders ``skip``."""
    found = []
    for top, dirs, files in os.walk(tempfile.gettempdir()):
        dirs[:] = [d for d in dirs if Path(top, d) not in skip]
        for name in files:
            path = Path(top, name)
            try:
                if path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue
    return found


def test_two_workers_xcom_logs_s3_and_isolation(smoke_airflow: DistributedAirflow) -> None:
    airflow = smoke_airflow
    worker_a, worker_b = airflow.worker("a"), airflow.worker("b")
    assert worker_a.hostname != worker_b.hostname
    assert {address.split(":")[0] for addresses in airflow.listening().values() for address in addresses} == {
        "127.0.0.1"
    }, airflow.listening()

    airflow.wait_for_dags([DAG_ID], timeout=60)
    airflow.unpause(DAG_ID)
    token = secrets.token_hex(16)
    key = f"smoke/{token}.txt"
    began = time.time()
    run = airflow.trigger_and_wait(DAG_ID, {"token": token, "url": airflow.s3_url(key)}, timeout=120)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", airflow.log_tails()
    assert airflow.task_instances(DAG_ID, run_id) == {"produce": "success", "consume": "success"}

    # Each task ran on the worker of its queue.
    produce = airflow.task_instance(DAG_ID, run_id, "produce")
    consume = airflow.task_instance(DAG_ID, run_id, "consume")
    assert (produce["queue"], produce["hostname"]) == ("queue_a", worker_a.hostname)
    assert (consume["queue"], consume["hostname"]) == ("queue_b", worker_b.hostname)

    # The XCom went from one worker to the other (through the API server).
    xcom = airflow.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/consume/xcomEntries/return_value"
    )
    assert xcom.is_success, xcom.text
    consumed = xcom.json()["value"]
    assert consumed["token"] == token

    # Every task ran in its own worker's folders.
    produced = airflow.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/produce/xcomEntries/return_value"
    ).json()["value"]
    for reported, worker in ((produced, worker_a), (consumed, worker_b)):
        assert reported["home"] == reported["cwd"] == reported["airflow_home"] == str(worker.home)
        assert reported["tempdir"] == str(worker.tmp)
    assert Path(produced["scratch"]).parent == worker_a.tmp

    # The API server read each task's log from its worker's log server: it has no copy of its own.
    assert f"deploy smoke produced {token}" in airflow.task_log(DAG_ID, run_id, "produce")
    assert f"deploy smoke consumed {token}" in airflow.task_log(DAG_ID, run_id, "consume")

    # The object written through the aws connection is in moto.
    body = airflow.s3.get_object(Bucket=airflow.bucket, Key=key)["Body"].read()
    assert body == f"smoke {token}".encode()
    assert airflow.s3fs().cat(f"{airflow.bucket}/{key}") == body

    # What the run wrote holding the token is in the workers' own folders only: each worker's log (and
    # worker A's scratch file); nothing in any other component's home, nothing in the machine's /tmp.
    written = {name: _files_containing(paths, token) for name, paths in airflow.files(since=began).items()}
    assert {name for name, paths in written.items() if paths} == {"worker-a", "worker-b"}, written
    assert Path(produced["scratch"]) in written["worker-a"]
    assert all(p.is_relative_to(worker_a.logs) for p in written["worker-a"] if p != Path(produced["scratch"]))
    assert all(p.is_relative_to(worker_b.logs) for p in written["worker-b"]), written
    # (The deployment's own folders are checked above; PostgreSQL's cluster holds the XComs by design.)
    elsewhere = _new_files_in_system_tmp(began, skip=[airflow.root, airflow.postgres.root])
    assert _files_containing(elsewhere, token) == []
