"""A pipeline mixing local and Docker steps on a real Airflow (standalone, LocalExecutor) via REST API v2,
with a real Docker daemon: the container's output lands in the task log, and a re-run reuses every step
without starting a container."""

from __future__ import annotations

import time

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.docker_support import DEFINITION, STEP, containers_started, runtime_image
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

DAG_ID = "docker_mixed"


@pytest.fixture(scope="module")
def image() -> str:
    return runtime_image()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory, image: str) -> AirflowServer:  # type: ignore[no-untyped-def]
    dags = tmp_path_factory.mktemp("docker-e2e") / "dags"
    dags.mkdir()
    (dags / f"{DAG_ID}.yaml").write_text(
        DEFINITION.format(name=DAG_ID, image=image, docker_url="unix://var/run/docker.sock")
    )
    (dags / f"{DAG_ID}.py").write_text(STUB_TEMPLATE.format(definition=f"{DAG_ID}.yaml"))
    (dags / "src").mkdir()
    (dags / "src" / "step.py").write_text(STEP)
    (dags / "data").mkdir()
    (dags / "data" / "raw.txt").write_text("raw:")
    server: AirflowServer = airflow_server_factory(dags)
    server.wait_for_dags([DAG_ID])
    server.unpause(DAG_ID)
    return server


def test_docker_step_runs_through_rest_and_reuse_starts_no_container(
    server: AirflowServer, image: str
) -> None:
    since = time.time() - 1
    before = containers_started(image, since)
    run = server.trigger_and_wait(DAG_ID)
    states = server.task_instances(DAG_ID, run["dag_run_id"])
    assert run["state"] == "success", states
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {
        "a.run": "success",
        "b.run": "success",
        "c.run": "success",
    }
    assert containers_started(image, since) == before + 1
    log = server.task_log(DAG_ID, run["dag_run_id"], "b.run")
    assert "python (3, 11) in container" in log  # the script's stdout, from the container, in the task log
    assert "committed outputs of b" in log
    (out_c,) = (server.home / "mlpipelines" / "datastore" / "workspaceblobstore" / DAG_ID / "c").glob(
        "*/*/out_c/data.txt"
    )
    assert out_c.read_text() == "raw:axtec"

    before = containers_started(image, since)
    again = server.trigger_and_wait(DAG_ID)
    states = server.task_instances(DAG_ID, again["dag_run_id"])
    assert again["state"] == "success", states
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {
        "a.run": "skipped",
        "b.run": "skipped",
        "c.run": "skipped",
    }
    assert containers_started(image, since) == before
    assert f"reused b from {DAG_ID}/" in server.task_log(DAG_ID, again["dag_run_id"], "b.reuse")
