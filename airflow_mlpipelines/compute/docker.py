"""Docker target: the official ``DockerOperator`` configured from a compute target (the only module
that imports the Docker provider and docker-py)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import TaskSpec, quantity_bytes, quantity_cpus, runtime_command
from airflow_mlpipelines.exceptions import ComputeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec

OPERATOR = "airflow.providers.docker.operators.docker.DockerOperator"
DEFAULT_DOCKER_URL = "unix://var/run/docker.sock"


def _mounts(target: ComputeTargetSpec, local_paths: Sequence[str], source_directory: str) -> list[Any]:
    """Bind-mount local datastores and the source directory at the same paths, so URLs stay valid."""
    from docker.types import Mount

    mounts: dict[str, Any] = {}
    for path in sorted(set(local_paths)):
        # A folder inside another mounted folder is already visible.
        if not any(path.startswith(other.rstrip("/") + "/") for other in local_paths if other != path):
            mounts[path] = Mount(target=path, source=path, type="bind")
    if source_directory not in mounts and not any(
        source_directory.startswith(p.rstrip("/") + "/") for p in mounts
    ):
        mounts[source_directory] = Mount(
            target=source_directory, source=source_directory, type="bind", read_only=True
        )
    for volume in target.volumes:
        if volume.host_path is not None:
            mounts[volume.mount_path] = Mount(
                target=volume.mount_path, source=volume.host_path, type="bind", read_only=volume.read_only
            )
        else:
            mounts[volume.mount_path] = Mount(
                target=volume.mount_path, source=volume.claim, type="volume", read_only=volume.read_only
            )
    return list(mounts.values())


def docker_task(
    *,
    step: str,
    group: str,
    reuse_task_id: str,
    target: ComputeTargetSpec,
    image: str,
    env: Mapping[str, str],
    local_paths: Sequence[str],
    source_directory: str,
) -> TaskSpec:
    """The DockerOperator arguments for one step: runtime entrypoint, mounts, GPUs, limits, env."""
    from docker.types import DeviceRequest

    kwargs: dict[str, Any] = {
        "image": image,
        "command": runtime_command(group, reuse_task_id),
        "environment": {**dict(target.env), **dict(env), "PYTHONUNBUFFERED": "1"},
        "mounts": _mounts(target, local_paths, source_directory),
        "mount_tmp_dir": False,
        "auto_remove": "success",
        "docker_url": target.docker_url or DEFAULT_DOCKER_URL,
        # Files the step writes into mounted datastores belong to the user Airflow runs as.
        "user": f"{os.getuid()}:{os.getgid()}",
        "force_pull": target.image_pull_policy == "Always",
        "do_xcom_push": False,
        "tty": False,
    }
    if target.gpu_count:
        kwargs["device_requests"] = [DeviceRequest(count=target.gpu_count, capabilities=[["gpu"]])]
    if target.memory_limit:
        kwargs["mem_limit"] = quantity_bytes(target.memory_limit)
    if target.cpu_limit:
        kwargs["cpus"] = quantity_cpus(target.cpu_limit)
    if target.network_mode:
        kwargs["network_mode"] = target.network_mode
    return TaskSpec(OPERATOR, kwargs)


def check_daemon(docker_url: str | None, *, step: str, target: str) -> None:
    """Fail in one line, naming step and target, when the Docker daemon does not answer."""
    import docker
    from docker.errors import DockerException

    url = docker_url or DEFAULT_DOCKER_URL
    try:
        client = docker.APIClient(base_url=url, timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except (DockerException, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ComputeError(
            f"step '{step}': compute target '{target}' (docker): the Docker daemon is not reachable at "
            f"{url} ({reason[:200]}); start dockerd or set docker_url on the target"
        ) from None
