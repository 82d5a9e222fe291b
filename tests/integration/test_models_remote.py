"""The model registry on S3 (moto's server on loopback) through an Airflow connection, and mirrored into
MLflow's model registry (SQLite) when the MLflow metrics backend is configured (issue 18, item 4)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.deploy.servers import MotoServer
from tests.integration.test_models import SCORE, SCORE_YAML, TRAIN, TRAIN_YAML

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

BUCKET = "mlp-models"
CONN = "mlp_models_s3"


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
def s3_registry(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    connection = moto.airflow_connection()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(connection))
    url = f"s3://{CONN}@{BUCKET}/{request.node.name[:40]}/models"
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MODEL_REGISTRY", url)
    return url


def _write(folder: Path, name: str, definition: str, script: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(definition)
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / script).write_text(text)


def _run(folder: Path, dag_id: str, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test(run_conf=conf)
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_registry_on_s3_through_an_airflow_connection(
    scratch_dags: Path, s3_registry: str, moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlpipelines.core import Model
    from airflow_mlpipelines.pipeline import Workspace

    ws = Workspace.from_config()
    # The training step's script (a child process without Airflow's connections) registers on S3.
    _write(scratch_dags, "s3train", TRAIN_YAML.format(name="s3train", model="s3clf"), "train.py", TRAIN)
    run, states = _run(scratch_dags, "s3train")
    assert run.state == "success", states
    prefix = s3_registry.split(f"{BUCKET}/", 1)[1]
    keys = {o["Key"] for o in moto.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    assert {f"{prefix}/s3clf/1/model.json", f"{prefix}/s3clf/1/files/model.txt"} <= keys
    model = Model(ws, "s3clf")
    assert (model.version, model.tags, model.url) == (
        1,
        {"quality": "0.5"},
        f"{s3_registry}/s3clf/1/files/model.txt",
    )

    # A consumer stages the model from S3; get_model_path in its script downloads to a cache.
    monkeypatch.setenv("MLP_MODEL_CACHE", str(tmp_path / "cache"))
    definition = SCORE_YAML.format(name="s3score", model="s3clf")
    _write(scratch_dags, "s3score", definition, "score.py", SCORE)
    run, states = _run(scratch_dags, "s3score")
    assert run.state == "success", states
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "score_latest.reuse"]
    plan = ti.xcom_pull(task_ids="score_latest.reuse", key="mlp_plan")
    assert plan["inputs"]["latest"] == f"{s3_registry}/s3clf/1/files/model.txt"
    assert (Path(plan["outputs"]["scored"]) / "score.txt").read_text() == "weights-0.5|weights-0.5"
    assert list((tmp_path / "cache" / "s3clf").iterdir())  # the script's copy

    # A notebook registers through the Airflow connection; concurrent registrations never share a version.
    source = tmp_path / "m.bin"
    source.write_bytes(b"x" * 1000)
    made: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            made.append(Model.register(ws, str(source), "s3clf").version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(made) == [2, 3, 4, 5, 6, 7]
    assert [m.version for m in Model.list(ws, name="s3clf")] == [7, 6, 5, 4, 3, 2, 1]
    path = Model.get_model_path("s3clf", version=4)
    assert Path(path).read_bytes() == b"x" * 1000
    # Even when every racer saw the same (stale) listing, S3's If-None-Match gives each its own number.
    from airflow_mlpipelines.connections import AirflowStorage
    from tests.unit.runtime.test_model_registry import _StaleListing

    stale = _StaleListing(AirflowStorage(), s3_registry)
    raced: list[int] = []
    racers = [
        threading.Thread(target=lambda: raced.append(stale.register("s3race", str(source)).version))
        for _ in range(5)
    ]
    for thread in racers:
        thread.start()
    for thread in racers:
        thread.join()
    assert sorted(raced) == [1, 2, 3, 4, 5]
    # The consumer of the latest version re-runs for version 7; the pinned one is reused.
    run, states = _run(scratch_dags, "s3score")
    assert (states["score_latest.run"], states["score_pinned.run"]) == ("success", "skipped")


def test_registrations_are_mirrored_into_mlflow(
    scratch_dags: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    from airflow_mlpipelines.core import Model
    from airflow_mlpipelines.pipeline import Workspace

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # a SQLite store keeps artifacts in ./mlruns
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MODEL_REGISTRY", str(tmp_path / "models"))
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__METRICS_BACKEND", "mlflow")
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MLFLOW_TRACKING_URI", uri)
    _write(scratch_dags, "mltrain", TRAIN_YAML.format(name="mltrain", model="mlclf"), "train.py", TRAIN)
    run, states = _run(scratch_dags, "mltrain")
    assert run.state == "success", states
    client = MlflowClient(tracking_uri=uri)
    (version,) = client.search_model_versions("name='mlclf'")
    assert version.tags["mlpipelines.model_version"] == "1"
    assert version.tags["quality"] == "0.5"
    assert version.source == str(tmp_path / "models" / "mlclf" / "1" / "files" / "model.txt")
    step_run = client.get_run(version.run_id)  # linked to the step's MLflow run
    assert step_run.data.tags["mlpipelines.step"] == "train"
    assert step_run.data.metrics["quality"] == 0.5

    source = tmp_path / "nb.txt"
    source.write_text("from a notebook")
    assert Model.register(Workspace.from_config(), str(source), "mlclf", tags={"by": "nb"}).version == 2
    versions = {v.tags["mlpipelines.model_version"]: v for v in client.search_model_versions("name='mlclf'")}
    assert sorted(versions) == ["1", "2"]
    assert versions["2"].tags["by"] == "nb"
    assert versions["2"].run_id in (None, "")
    # The datastore is the source of truth: with MLflow down, registration still works.
    monkeypatch.setenv("AIRFLOW__MLPIPELINES__MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    assert Model.register(Workspace.from_config(), str(source), "mlclf").version == 3
