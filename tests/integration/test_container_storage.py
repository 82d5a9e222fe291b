"""The container side of the storage layer (issue 11, item 4) on a real S3 API (moto's server on loopback).

On the worker, an Airflow ``aws`` connection is turned into storage options
(``connections.plan_connections``, the Jinja filter the Docker/Kubernetes environments render); the step's
entrypoint then runs in a separate process with no Airflow configuration at all, reads its input from and
writes its outputs, manifest and lease to ``s3://<conn_id>@bucket/...`` with those options alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.servers import MotoServer

pytestmark = pytest.mark.integration

BUCKET = "mlp-container"
CONN = "mlp_container_s3"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    server.create_bucket(BUCKET)
    try:
        yield server
    finally:
        server.process.stop()


@pytest.fixture
def aws_connection(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = moto.airflow_connection()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(connection))
    return moto.secret_key


SCRIPT = """\
import os, sys
text = open(os.path.join(sys.argv[1], "in.txt")).read()
open(os.path.join(sys.argv[2], "out.txt"), "w").write(text.upper())
"""


def _plan(tmp_path: Path) -> dict[str, Any]:
    from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
    from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
    from airflow_mlpipelines.reuse.fingerprint import Fingerprint
    from airflow_mlpipelines.runtime.plan import LeaseSpec, Origin, StepPlan

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s.py").write_text(SCRIPT)
    base = f"s3://{CONN}@{BUCKET}"
    task = StepTask(
        pipeline="p",
        step="s",
        kind="python_script",
        script_name="s.py",
        source_directory=str(tmp_path / "src"),
        target=ComputeTargetSpec("box", kind="docker", image="x:1"),
        inputs=(InputBinding("data", path=f"{base}/in"),),
        outputs=(OutputBinding("result", "remote"),),
    )
    fp = Fingerprint({"step": "s"})
    plan = StepPlan(
        task=task,
        decision="run",
        dag_id="p",
        run_id="r1",
        fingerprint=fp,
        manifest=f"{base}/_manifests/p/s/{fp.short}",
        produced_by=Origin("p", "r1", "s.run"),
        inputs={"data": f"{base}/in"},
        outputs={"result": f"{base}/p/s/{fp.short}/r1/result"},
        arguments=[[{"input": "data"}], [{"output": "result"}]],
        source_directory=str(tmp_path / "src"),
        lease=LeaseSpec(f"{base}/_manifests/p/s/{fp.short}", "p/r1", 60),
    )
    return plan.to_json()


def test_the_container_runs_with_handed_in_credentials_only(
    tmp_path: Path, moto: MotoServer, aws_connection: str
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_mlpipelines.connections import plan_connections
    from airflow_mlpipelines.reuse import lease

    moto.client().put_object(Bucket=BUCKET, Key="in/in.txt", Body=b"from s3")
    plan = _plan(tmp_path)
    # The reuse task took the lease on the worker; the container renews and releases it.
    from airflow_mlpipelines.connections import AirflowStorage

    assert lease.try_acquire(AirflowStorage().resolve(plan["manifest"]), "p/r1", 60) is None

    exported = plan_connections(plan)  # what the DockerOperator's environment renders
    options = json.loads(exported)[CONN]
    assert options["protocol"] == "s3"
    assert options["storage_options"]["secret"] == aws_connection
    assert options["storage_options"]["client_kwargs"]["endpoint_url"] == moto.endpoint_url
    assert aws_connection not in str(redact(exported))  # masked in logs and rendered fields

    # The "container": a process with no Airflow configuration and no AWS variables, only the options.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    env["MLP_STORAGE_CONNECTIONS"] = exported
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(plan)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "downloading input data" in done.stdout
    assert "uploading output result" in done.stdout
    s3 = moto.client()
    out_key = plan["outputs"]["result"].split(f"@{BUCKET}/", 1)[1] + "/out.txt"
    assert s3.get_object(Bucket=BUCKET, Key=out_key)["Body"].read() == b"FROM S3"
    manifest_key = plan["manifest"].split(f"@{BUCKET}/", 1)[1] + "/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["outputs"]["result"]["url"] == plan["outputs"]["result"]
    record = json.loads(
        s3.get_object(Bucket=BUCKET, Key=manifest_key.replace("manifest.json", "lease.json"))["Body"].read()
    )
    assert record.get("released") is True
    # The manifest records each object's ETag, so the default check sees a same-size edit in place.
    from airflow_mlpipelines.connections import AirflowStorage
    from airflow_mlpipelines.reuse import store

    assert all("etag" in f for f in manifest["outputs"]["result"]["files"])
    assert store.verify(manifest, storage=AirflowStorage()) == []
    s3.put_object(Bucket=BUCKET, Key=out_key, Body=b"FROM S4")  # same size, other bytes
    (problem,) = store.verify(manifest, storage=AirflowStorage())
    assert (
        problem
        == "result/out.txt was modified after it was committed (its stamps differ from the manifest's)"
    )


def test_without_credentials_the_container_says_which_store_failed(tmp_path: Path, moto: MotoServer) -> None:
    plan = _plan(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
    # No credentials and nowhere else to go: any request would hit a closed port on loopback.
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(plan)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("ERROR: ")
    assert f"s3://{CONN}@{BUCKET}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_remote_inputs_are_fingerprinted_from_the_stores_tags(moto: MotoServer, aws_connection: str) -> None:
    """A remote input's digest comes from its ETags and sizes (no bytes read), and changes with content."""
    from airflow_mlpipelines.connections import AirflowStorage
    from airflow_mlpipelines.reuse.remote_digest import remote_digest

    s3 = moto.client()
    for i in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"ds/part{i}.csv", Body=f"a,b\n{i},{i}\n".encode())
    loc = AirflowStorage().resolve(f"s3://{CONN}@{BUCKET}/ds")
    opened: list[str] = []
    original = loc.fs.open

    def spy(path: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(path)
        return original(path, *args, **kwargs)

    loc.fs.open = spy  # type: ignore[method-assign]
    lines: list[str] = []
    first = remote_digest(loc, lines.append)
    assert opened == []  # ETags were enough: no object was read
    assert lines == []
    assert remote_digest(loc) == first
    s3.put_object(Bucket=BUCKET, Key="ds/part1.csv", Body=b"a,b\n9,9\n")  # same size, other bytes
    assert remote_digest(loc) != first
    loc.fs.open = original  # type: ignore[method-assign]


@pytest.mark.usefixtures("airflow_db")
def test_orphaned_stored_values_on_object_storage(moto: MotoServer, aws_connection: str) -> None:
    """Issue 16, item 4: the maintenance command lists and deletes orphans on S3 too (dry run first)."""
    from airflow_mlpipelines.cli import main
    from airflow_mlpipelines.xcom.cleanup import orphans

    s3 = moto.client()
    root = f"s3://{CONN}@{BUCKET}/xcom"
    s3.put_object(Bucket=BUCKET, Key="xcom/d/finished/t/return_value-0-ab.parquet", Body=b"x" * 10)
    assert orphans(root) == []  # just written: too young to be an orphan
    (found,) = orphans(root, older_than_seconds=0)
    assert found.url == f"{root}/d/finished/t/return_value-0-ab.parquet"
    assert found.size == 10
    assert main(["xcom-orphans", "--root", root, "--older-than", "0"]) == 0  # dry run
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="xcom/")["KeyCount"] == 1
    assert main(["xcom-orphans", "--root", root, "--older-than", "0", "--delete"]) == 0
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="xcom/")["KeyCount"] == 0
