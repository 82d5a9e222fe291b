"""docker-compose.yaml as a real compose implementation resolves it (no Docker daemon needed).

Uses `docker compose config --format json` when the docker CLI has the Compose v2 plugin, else a
standalone `docker-compose` (Debian's 1.29 Python one prints YAML; a v2 binary prints JSON). On Debian:
`apt-get install --no-install-recommends docker-compose`. Without either, the tests skip, or fail when
CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
PROVIDER_MOUNT = "/opt/airflow_mlpipelines"
DAGS_FOLDER = "/opt/airflow/dags"
DATASTORE_ROOT = "/opt/airflow/mlpipelines/datastore"
RUNNING_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = ["airflow-init", *RUNNING_SERVICES]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120, **kwargs)


def _compose_command() -> list[str] | None:
    """The compose implementation to use: the docker CLI plugin first, then a standalone binary."""
    docker = shutil.which("docker")
    if docker and _run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def _major_version(command: list[str]) -> int:
    found = re.search(r"(\d+)\.\d+", _run([*command, "version", "--short"]).stdout)
    return int(found.group(1)) if found else 1


def _clean_environment() -> dict[str, str]:
    """This process's environment without the variables the compose file reads (so defaults apply)."""
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    return {
        name: value
        for name, value in os.environ.items()
        if name not in interpolated and not name.startswith("COMPOSE_")
    }


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    command = _compose_command()
    if command is None:
        reason = (
            "no compose implementation: neither `docker compose` nor `docker-compose` is on PATH "
            "(apt-get install --no-install-recommends docker-compose)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    empty_env_file = tmp_path_factory.mktemp("compose") / "empty.env"  # ignore a developer's .env
    empty_env_file.write_text("")
    output_format = ["--format", "json"] if _major_version(command) >= 2 else []
    result = _run(
        [
            *command,
            "--project-name",
            "airflow-mlpipelines",
            "--env-file",
            str(empty_env_file),
            "--file",
            str(COMPOSE_FILE),
            "config",
            *output_format,
        ],
        cwd=REPO,
        env=_clean_environment(),
    )
    assert result.returncode == 0, f"{' '.join(command)} config failed:\n{result.stderr}"
    resolved = yaml.safe_load(result.stdout)  # JSON is YAML too
    assert isinstance(resolved, dict)
    return resolved


def _service(config: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = config["services"][name]
    return service


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount target -> (source, read-only), from the short or the long volume syntax."""
    mounts: dict[str, tuple[str, bool]] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, "ro" in ",".join(mode).split(","))
        else:
            mounts[volume["target"]] = (str(volume.get("source", "")), bool(volume.get("read_only")))
    return mounts


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs, from the short or the long port syntax."""
    ports: set[tuple[int, int]] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add((int(port["published"]), int(port["target"])))
        else:
            published, target = str(port).rsplit(":", 2)[-2:]
            ports.add((int(published), int(target)))
    return ports


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def test_celery_executor_stack_on_postgres_and_redis(config: dict[str, Any]) -> None:
    services = set(config["services"])
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= services
    assert _service(config, "postgres")["image"] == "postgres:16"
    assert str(_service(config, "redis")["image"]).startswith("redis:7")
    assert {name: _command(_service(config, name)) for name in RUNNING_SERVICES} == RUNNING_SERVICES


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_runs_airflow_3_with_this_provider(config: dict[str, Any], name: str) -> None:
    service = _service(config, name)
    assert str(service["image"]).startswith("apache/airflow:3.")
    env = _environment(service)
    assert PROVIDER_MOUNT in env["_PIP_ADDITIONAL_REQUIREMENTS"].split()[0]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__CORE__XCOM_BACKEND"] == "airflow_mlpipelines.xcom.backend.DataFrameXComBackend"
    assert "celery" in env["_PIP_ADDITIONAL_REQUIREMENTS"].split()[0]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert env["AIRFLOW__MLPIPELINES__DATASTORE_ROOT"] == DATASTORE_ROOT

    mounts = _mounts(service)
    repo_source, repo_read_only = mounts[PROVIDER_MOUNT]
    assert Path(repo_source).resolve() == REPO
    assert repo_read_only
    assert Path(mounts[DAGS_FOLDER][0]).resolve() == REPO / "dags_examples"
    datastore_mounts = [target for target in mounts if DATASTORE_ROOT.startswith(target + "/")]
    assert datastore_mounts, f"{DATASTORE_ROOT} is not on a volume in {name}"
    assert not any(mounts[target][1] for target in datastore_mounts)


def test_components_share_the_jwt_secret(config: dict[str, Any]) -> None:
    """Tasks on the workers call the API server with tokens the scheduler signed."""
    secrets = {
        _environment(_service(config, name)).get("AIRFLOW__API_AUTH__JWT_SECRET") for name in AIRFLOW_SERVICES
    }
    assert len(secrets) == 1
    assert secrets.pop()


def test_apiserver_publishes_8080(config: dict[str, Any]) -> None:
    assert _published_ports(_service(config, "airflow-apiserver")) == {(8080, 8080)}


@pytest.mark.parametrize("name", ["postgres", *RUNNING_SERVICES])
def test_long_running_services_have_healthchecks(config: dict[str, Any], name: str) -> None:
    service = _service(config, name)
    assert service["healthcheck"]["test"]
    assert service["restart"] == "always"


@pytest.mark.parametrize("name", list(RUNNING_SERVICES))
def test_components_wait_for_init_and_database(config: dict[str, Any], name: str) -> None:
    depends_on = _service(config, name)["depends_on"]
    assert depends_on["airflow-init"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"


def test_init_migrates_the_database_and_creates_the_user(config: dict[str, Any]) -> None:
    service = _service(config, "airflow-init")
    env = _environment(service)
    assert env["_AIRFLOW_DB_MIGRATE"].lower() == "true"
    assert env["_AIRFLOW_WWW_USER_CREATE"].lower() == "true"
    assert str(service["user"]) == "0:0"  # root, to chown the named volumes for the Airflow user
    assert "/entrypoint" in _command(service)


def _read_only_copy_of_the_package(destination: Path) -> list[Path]:
    """Copy what pip needs to build the provider, make it read-only and return every path in it."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, destination / name)
    package = "airflow_mlpipelines"
    shutil.copytree(REPO / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    paths = [destination, *destination.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~0o222)
    return paths


def test_provider_requirement_builds_from_a_read_only_checkout(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """pip builds a local directory in place, and setuptools writes egg-info and build directories into
    it: the options in _PIP_ADDITIONAL_REQUIREMENTS must move those to /tmp, or the install fails on the
    read-only mount. Runs the entrypoint's pip arguments against a read-only copy of the package, with a
    folder standing in for the container's /tmp, and checks nothing was written into the copy (root
    ignores the missing write permission, so the check is on the files).
    """
    checkout = tmp_path / "checkout"
    container_tmp = tmp_path / "container-tmp"
    container_tmp.mkdir()
    requirements = _environment(_service(config, "airflow-scheduler"))["_PIP_ADDITIONAL_REQUIREMENTS"]
    arguments = [
        token.replace(PROVIDER_MOUNT, str(checkout), 1).replace("=/tmp", f"={container_tmp}")
        for token in requirements.split()  # the entrypoint word-splits it the same way
    ]
    paths = _read_only_copy_of_the_package(checkout)
    try:
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(tmp_path)]
        result = _run([*pip_wheel, *arguments], cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        written = sorted(str(path.relative_to(checkout)) for path in set(checkout.rglob("*")) - set(paths))
        assert not written, f"pip wrote into the (read-only) checkout: {written[:5]}"
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | 0o200)
    assert {path.name for path in container_tmp.iterdir()} >= {
        "airflow_mlpipelines.egg-info",
        "airflow_mlpipelines-build",
    }
    (wheel,) = tmp_path.glob("airflow_mlpipelines-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        assert "apache_airflow_provider" in archive.read(entry_points).decode()
    assert "airflow_mlpipelines/__init__.py" in names
