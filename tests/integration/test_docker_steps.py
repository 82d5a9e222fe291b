"""Docker compute target on a real Airflow (dag.test()) and a real Docker daemon: local and Docker steps
in one pipeline, reuse that starts no container, and a clear error when the daemon is not reachable."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.docker_support import DEFINITION, STEP, containers_started, runtime_image

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]


@pytest.fixture(scope="module")
def image() -> str:
    return runtime_image()


def _pipeline(folder: Path, image: str, docker_url: str = "unix://var/run/docker.sock") -> str:
    name = f"docker_{folder.name}"[:60]
    (folder / f"{name}.yaml").write_text(DEFINITION.format(name=name, image=image, docker_url=docker_url))
    (folder / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (folder / "src").mkdir()
    (folder / "src" / "step.py").write_text(STEP)
    (folder / "data").mkdir()
    (folder / "data" / "raw.txt").write_text("raw:")
    return name


def _run(folder: Path, conf: dict[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    state, states, _ = _run_with_id(folder, conf)
    return state, states


def _run_with_id(folder: Path, conf: dict[str, Any] | None = None) -> tuple[str, dict[str, str], str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test(run_conf=conf)
    return str(run.state), {ti.task_id: str(ti.state) for ti in run.get_task_instances()}, run.run_id


def test_docker_step_between_local_steps_then_reused_without_a_container(
    scratch_dags: Path, image: str, airflow_home: Path
) -> None:
    name = _pipeline(scratch_dags, image)
    since = time.time() - 1
    before = containers_started(image, since)
    state, states, run_id = _run_with_id(scratch_dags)
    assert state == "success", states
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {
        "a.run": "success",
        "b.run": "success",
        "c.run": "success",
    }
    assert containers_started(image, since) == before + 1
    root = airflow_home / "mlpipelines" / "datastore"
    (out_c,) = root.glob(f"workspaceblobstore/{name}/c/*/*/out_c/data.txt")
    # b ran in the container with the target's and the environment's variables, c read what it wrote.
    assert out_c.read_text() == "raw:axtec"
    (manifest_b,) = root.glob(f"_manifests/{name}/b/*/manifest.json")
    manifest = json.loads(manifest_b.read_text())
    assert manifest["produced_by"]["task_id"] == "b.run"
    assert manifest["fingerprint"]["details"]["compute"] == "docker"
    assert manifest["fingerprint"]["details"]["environment"]["image"] == image
    assert set(manifest["outputs"]) == {"out_b"}
    # Run.get_context() in the container (an image without Airflow): its record was committed there.
    record = json.loads((Path(manifest["run_record"]) / "run.json").read_text())
    assert (record["status"], record["latest"]) == ("completed", {"bytes_in": 5})
    # The UI plugin finds the Docker step's outputs through the plan (the official operator pushes none).
    from airflow.utils.session import create_session

    from airflow_mlpipelines.plugins.step_outputs import published_steps

    with create_session() as session:
        (published_b,) = published_steps(session, name, run_id, "b")
    assert published_b.task_id == "b.run"
    assert published_b.outputs == {"out_b": manifest["outputs"]["out_b"]["url"]}
    # The reuse task took the in-flight lease; the container kept it and released it when done.
    from airflow_mlpipelines.reuse import lease

    assert lease.read(str(manifest_b.parent)) is None

    before = containers_started(image, since)
    state, states = _run(scratch_dags)
    assert state == "success", states
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {
        "a.run": "skipped",
        "b.run": "skipped",
        "c.run": "skipped",
    }
    assert containers_started(image, since) == before

    # A changed parameter re-runs only the Docker step and its consumer; the local producer is reused.
    state, states = _run(scratch_dags, {"tag": "y"})
    assert state == "success", states
    assert (states["a.run"], states["b.run"], states["c.run"]) == ("skipped", "success", "success")
    assert containers_started(image, since) == before + 1


def test_unreachable_daemon_fails_before_the_container_task(scratch_dags: Path, image: str) -> None:
    _pipeline(scratch_dags, image, docker_url="unix:///nonexistent/docker.sock")
    state, states = _run(scratch_dags)
    assert state == "failed"
    assert states["a.run"] == "success"
    assert states["b.reuse"] == "failed"
    assert states["b.run"] == "upstream_failed"


def test_daemon_error_is_one_line_naming_step_and_target() -> None:
    from airflow_mlpipelines.compute.docker import check_daemon
    from airflow_mlpipelines.exceptions import ComputeError

    with pytest.raises(ComputeError) as info:
        check_daemon("unix:///nonexistent/docker.sock", step="train", target="box")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "step 'train': compute target 'box' (docker): the Docker daemon is not reachable"
    )
