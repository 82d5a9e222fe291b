"""docker-compose.yaml, resolved by a real compose implementation, runs Airflow 3 with this provider."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    command = _compose_command()
    if command is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
        )
    result = subprocess.run(
        [*command, "-f", str(REPO / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "AIRFLOW_UID": "50000"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def _targets(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source, whichever volume syntax the compose implementation printed."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        mounts[target] = str(source)
    return mounts


def test_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"postgres", "airflow-init", *AIRFLOW_SERVICES}
    commands = {name: config["services"][name]["command"] for name in AIRFLOW_SERVICES}
    normalised = {name: c if isinstance(c, str) else " ".join(c) for name, c in commands.items()}
    assert normalised == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    ports = config["services"]["airflow-apiserver"]["ports"]
    published = {int(p["published"]) if isinstance(p, dict) else int(str(p).split(":")[0]) for p in ports}
    assert published == {8080}


@pytest.mark.parametrize("name", ["airflow-init", *AIRFLOW_SERVICES])
def test_airflow_service_installs_provider_and_mounts_examples(config: dict[str, Any], name: str) -> None:
    service = config["services"][name]
    assert service["image"].startswith("apache/airflow:3.")
    env = service["environment"]
    assert "/opt/airflow_mlpipelines" in env["_PIP_ADDITIONAL_REQUIREMENTS"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__MLPIPELINES__DATASTORE_ROOT"] == "/opt/airflow/mlpipelines/datastore"
    mounts = _targets(service)
    assert Path(mounts["/opt/airflow_mlpipelines"]).resolve() == REPO
    assert Path(mounts["/opt/airflow/dags"]).resolve() == REPO / "dags_examples"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_services_wait_for_init_and_database(config: dict[str, Any], name: str) -> None:
    depends = config["services"][name]["depends_on"]
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_init_migrates_the_database(config: dict[str, Any]) -> None:
    assert config["services"]["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
