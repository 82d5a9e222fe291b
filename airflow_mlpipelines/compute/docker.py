"""Docker target: the official ``DockerOperator`` configured from a step's description (the only module
that imports the Docker provider and docker-py).

The operator is built at parse time from the ``StepTask`` alone; what depends on the worker — the
configured datastore root to bind-mount, the uid:gid files are written as, the credentials of remote
datastores — reaches the container at run time through the plan (templated ``command``, ``mounts`` and
``environment``), never by reading settings while the DAG file is parsed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import (
    CONTAINER_PYTHON,
    PLAN_ENV,
    RUNTIME_MODULE,
    MappedSpec,
    TaskSpec,
    mini_batch_argv,
    plan_template,
    plan_value_template,
    quantity_bytes,
    quantity_cpus,
    runtime_command,
    storage_connections_template,
)
from airflow_mlpipelines.exceptions import ComputeError
from airflow_mlpipelines.paths import local_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.plan import StepPlan

OPERATOR = "airflow.providers.docker.operators.docker.DockerOperator"
DEFAULT_DOCKER_URL = "unix://var/run/docker.sock"
ROOT_SOURCE, ROOT_TARGET = "root_source", "root_target"
"""Plan ``mounts`` keys: the configured datastore root, bind-mounted at run time when it is local."""
NO_LOCAL_ROOT = "/mlp-datastore-root-is-remote"
"""Where the root slot is mounted (read-only, the step's sources) when the datastore root is remote."""


def _covered(path: str, others: list[str]) -> bool:
    return any(path.startswith(other.rstrip("/") + "/") for other in others if other != path)


def _mounts(task: StepTask) -> list[Any]:
    """Bind mounts known from the definition: local declared datastores and the source directory (at the
    same paths, so URLs stay valid), the target's volumes; plus the datastore-root slot (templated)."""
    from docker.types import Mount

    local = sorted({p for d in task.datastores if d.url and (p := local_path(d.url)) is not None})
    mounts: dict[str, Any] = {
        p: Mount(target=p, source=p, type="bind") for p in local if not _covered(p, local)
    }
    source = task.source_directory
    if source not in mounts and not _covered(source, list(mounts)):
        mounts[source] = Mount(target=source, source=source, type="bind", read_only=True)
    for volume in task.target.volumes:
        if volume.host_path is not None:
            mounts[volume.mount_path] = Mount(
                target=volume.mount_path, source=volume.host_path, type="bind", read_only=volume.read_only
            )
        else:
            mounts[volume.mount_path] = Mount(
                target=volume.mount_path, source=volume.claim, type="volume", read_only=volume.read_only
            )
    group = task.step
    # Rendered by Airflow into a plain dict with the API's keys, which the DockerOperator accepts as is.
    root = {
        "Target": plan_value_template(group, "mounts", ROOT_TARGET),
        "Source": plan_value_template(group, "mounts", ROOT_SOURCE),
        "Type": "bind",
        "ReadOnly": False,
    }
    return [*mounts.values(), root]


class DockerCompute:
    """Steps in Docker containers through the official DockerOperator."""

    name = "docker"
    builds_image = True

    def task_spec(self, task: StepTask) -> TaskSpec:
        """The DockerOperator arguments: runtime entrypoint, mounts, GPUs, limits, env, credentials."""
        from docker.types import DeviceRequest

        target = task.target
        kwargs: dict[str, Any] = {
            "image": task.image or target.image or "",
            "command": runtime_command(task.step),
            "environment": {
                **dict(target.env),
                **dict(task.env_vars),
                "PYTHONUNBUFFERED": "1",
                "MLP_STORAGE_CONNECTIONS": storage_connections_template(task.step),
            },
            "mounts": _mounts(task),
            "mount_tmp_dir": False,
            "auto_remove": "success",
            "docker_url": target.docker_url or DEFAULT_DOCKER_URL,
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

    def mapped_spec(self, task: StepTask) -> MappedSpec:
        """The step's DockerOperator arguments with the plan in ``$MLP_STEP_PLAN``, expanded over
        ``command`` (``python3 -m …step_main --mini-batch <descriptor>`` per mini-batch)."""
        kwargs = dict(self.task_spec(task).kwargs)
        del kwargs["command"]
        kwargs["environment"] = {**kwargs["environment"], PLAN_ENV: plan_template(task.step)}
        return MappedSpec(OPERATOR, kwargs, "command")

    def mapped_value(self, descriptor: dict[str, Any]) -> Any:
        """The container's command for one mini-batch."""
        return [CONTAINER_PYTHON, "-m", RUNTIME_MODULE, *mini_batch_argv(descriptor)]

    def prepare(self, plan: StepPlan, warn: Callable[[str], None]) -> StepPlan:
        """Check the daemon answers; mount the datastore root if it is local; run as the worker's user."""
        from dataclasses import replace

        from airflow_mlpipelines import settings

        check_daemon(plan.task.target.docker_url, step=plan.step, target=plan.task.target.name)
        root = local_path(settings.datastore_root())
        fixed = {m["Target"] for m in _mounts(plan.task)[:-1]}
        if root is not None and root not in fixed:
            os.makedirs(root, exist_ok=True)
            mounts = {ROOT_SOURCE: root, ROOT_TARGET: root}
        else:  # remote (or already mounted as a declared datastore): the slot mounts something harmless
            mounts = {ROOT_SOURCE: plan.task.source_directory, ROOT_TARGET: NO_LOCAL_ROOT}
        for datastore in plan.task.datastores:
            local = local_path(datastore.url) if datastore.url else None
            if local is not None:
                os.makedirs(local, exist_ok=True)
        models = plan.models
        registry = local_path(models) if models else None
        visible = [*fixed, *([root] if root is not None else [])]
        if registry is not None and not any(
            registry == v.rstrip("/") or _covered(registry, [v]) for v in visible
        ):
            # A local registry the container cannot see: registering there would write into the container
            # and be lost, so the script gets no registry (register_model is then a clear error).
            warn(
                f"step '{plan.step}': the model registry {registry} is not mounted in the container; "
                "put [mlpipelines] model_registry under the datastore root or on object storage"
            )
            models = ""
        # Files the step writes into mounted datastores belong to the user Airflow runs as.
        return replace(plan, mounts=mounts, run_as=(os.getuid(), os.getgid()), models=models)


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


KIND = DockerCompute()
