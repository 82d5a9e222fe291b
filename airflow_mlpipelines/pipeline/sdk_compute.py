"""SDK v1 compute names: ``ComputeTarget`` (declared or referenced by name) and ``DockerConfiguration``.

Azure ML created targets in the workspace (``ComputeTarget.create(ws, name, config)``); here a target is
declared in the definition itself — ``ComputeTarget.docker(...)``/``ComputeTarget.kubernetes(...)``
passed as a step's ``compute_target`` or in ``Pipeline(compute_targets=[...])`` — and a plain name
(``compute_target="gpu-cluster"``, ``ComputeTarget(ws, "gpu-cluster")``) refers to one of those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, SecretSpec, VolumeSpec
from airflow_mlpipelines.pipeline.model import LOCAL_COMPUTE

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.compute import ComputeKind


def _target_spec(name: str, kind: ComputeKind, settings: Mapping[str, Any]) -> ComputeTargetSpec:
    values = dict(settings)
    node_selector = values.pop("node_selector", None) or {}
    tolerations = values.pop("tolerations", None) or []
    env = values.pop("env", None) or {}
    volumes = values.pop("volumes", None) or []
    secrets = values.pop("secrets", None) or []
    for key in ("cpu_request", "cpu_limit"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return ComputeTargetSpec(
        name=name,
        kind=kind,
        node_selector=tuple(sorted((str(k), str(v)) for k, v in node_selector.items())),
        tolerations=tuple(tuple(sorted((str(k), str(v)) for k, v in t.items())) for t in tolerations),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        volumes=tuple(v if isinstance(v, VolumeSpec) else VolumeSpec(**v) for v in volumes),
        secrets=tuple(s if isinstance(s, SecretSpec) else SecretSpec(**s) for s in secrets),
        **values,
    )


class ComputeTarget:
    """A compute target: ``ComputeTarget(ws, "name")`` refers to one declared elsewhere by name;
    ``ComputeTarget.local/docker/kubernetes(name, ...)`` declares one.

    Settings of the declaring constructors are those of ``compute_targets`` in YAML (``image``,
    ``gpu_count``, ``gpu_type``, ``cpu_request``, ``cpu_limit``, ``memory_request``, ``memory_limit``,
    ``node_selector``, ``tolerations``, ``namespace``, ``service_account``, ``volumes``, ``secrets``,
    ``env``, ``image_pull_policy``, ``docker_url``, ...).
    """

    def __init__(self, workspace: Any = None, name: str = LOCAL_COMPUTE, **_kwargs: Any) -> None:
        self.workspace = workspace
        self.name = name
        self.target: ComputeTargetSpec | None = None

    @classmethod
    def _declare(cls, name: str, kind: ComputeKind, settings: Mapping[str, Any]) -> ComputeTarget:
        target = cls(None, name)
        target.target = _target_spec(name, kind, settings)
        return target

    @classmethod
    def local(cls, name: str = LOCAL_COMPUTE) -> ComputeTarget:
        """A target that runs steps as processes on the Airflow worker (e.g. to port ``cpu-cluster``)."""
        return cls._declare(name, "local", {})

    @classmethod
    def docker(cls, name: str, image: str | None = None, **settings: Any) -> ComputeTarget:
        """A target that runs steps in Docker containers (the official DockerOperator)."""
        return cls._declare(name, "docker", {"image": image, **settings})

    @classmethod
    def kubernetes(cls, name: str, image: str | None = None, **settings: Any) -> ComputeTarget:
        """A target that runs steps as Kubernetes pods (the official KubernetesPodOperator)."""
        return cls._declare(name, "kubernetes", {"image": image, **settings})

    def spec(self, location: SourceLocation | None) -> ComputeTargetSpec | None:
        """The declared target (with where it was used), or None for a reference by name."""
        if self.target is None:
            return None
        from dataclasses import replace

        return replace(self.target, location=location)


class DockerConfiguration:
    """Azure ML's ``DockerConfiguration``: ``use_docker=True`` runs a local-target step in a container."""

    def __init__(
        self,
        use_docker: bool = False,
        shm_size: str | None = None,
        shared_volumes: bool = True,
        arguments: Sequence[str] | None = None,
    ) -> None:
        self.use_docker = use_docker
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])


LOCAL_DOCKER = "local-docker"
"""The implicit Docker target of a local step whose ``runconfig.docker.use_docker`` is true."""
