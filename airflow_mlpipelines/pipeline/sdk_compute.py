"""SDK v1 compute names: ``ComputeTarget`` (declared or referenced by name) and ``DockerConfiguration``.

Azure ML created targets in the workspace (``ComputeTarget.create(ws, name, config)``); here a target is
declared in the definition itself — ``ComputeTarget.docker(...)``/``ComputeTarget.kubernetes(...)``
passed as a step's ``compute_target`` or in ``Pipeline(compute_targets=[...])`` — and a plain name
(``compute_target="gpu-cluster"``, ``ComputeTarget(ws, "gpu-cluster")``) refers to one of those.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from airflow_mlpipelines.exceptions import DefinitionError, SourceLocation, did_you_mean
from airflow_mlpipelines.pipeline.callsite import caller_location
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, SecretSpec, VolumeSpec
from airflow_mlpipelines.pipeline.model import LOCAL_COMPUTE
from airflow_mlpipelines.pipeline.yaml_compute import COMPUTE_KEYS_BY_SECTION, ComputeTargetModel, target_spec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.pipeline.compute import ComputeKind


def _target_spec(
    name: str, kind: ComputeKind, settings: Mapping[str, Any], location: SourceLocation | None = None
) -> ComputeTargetSpec:
    """Validate a target's settings with the YAML format's schema (the same rules and messages)."""
    values = {k: v for k, v in settings.items() if v is not None}
    for key in ("volumes", "secrets"):  # spec objects are accepted as well as mappings
        if key in values:
            values[key] = [asdict(v) if isinstance(v, VolumeSpec | SecretSpec) else v for v in values[key]]
    try:
        model = ComputeTargetModel.model_validate({"kind": kind, **values})
    except ValidationError as exc:
        raise _definition_error(name, kind, exc, location) from None
    return target_spec(name, model, location or SourceLocation("<unknown>"))


def _definition_error(
    name: str, kind: str, exc: ValidationError, location: SourceLocation | None
) -> DefinitionError:
    """Every problem of one ``ComputeTarget.<kind>(...)`` call, in the user's terms, with did-you-mean."""
    problems, hint = [], None
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
        key = loc[0] if loc else "?"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown argument '{'.'.join(loc)}'")
            section = loc[-2] if len(loc) > 1 else "compute_targets"
            hint = hint or did_you_mean(loc[-1], COMPUTE_KEYS_BY_SECTION.get(section, []))
        else:
            problems.append(f"'{'.'.join(loc) or key}': {error['msg']} (got {error.get('input')!r})")
    field = ".".join(str(p) for p in exc.errors()[0]["loc"] if not isinstance(p, int))
    return DefinitionError(
        f"ComputeTarget.{kind}('{name}', ...): " + "; ".join(problems),
        location=location,
        field=f"compute_targets.{name}.{field}",
        hint=hint,
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
        target.target = _target_spec(name, kind, settings, caller_location())
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
