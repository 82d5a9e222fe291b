"""Compute targets and environments in the pure model: where a step runs, and in which image.

Kept apart from ``model.py`` so the step and pipeline dataclasses stay small: a pipeline declares its
targets and environments once (``PipelineSpec.compute_targets``/``environments``) and steps name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from airflow_mlpipelines.exceptions import DefinitionError, Problems, did_you_mean
from airflow_mlpipelines.pipeline.model import LOCAL_COMPUTE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import PipelineSpec, StepSpec

ComputeKind = Literal["local", "docker", "kubernetes"]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]


@dataclass(frozen=True)
class VolumeSpec:
    """A volume mounted into the step's container or pod at ``mount_path``.

    Exactly one source: ``host_path`` (Docker bind mount / Kubernetes hostPath) or ``claim``
    (Kubernetes PersistentVolumeClaim name; Docker: a named volume).
    """

    name: str
    mount_path: str
    host_path: str | None = None
    claim: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class SecretSpec:
    """A Kubernetes secret exposed to the pod: as one env variable (``env`` + ``key``) or all its keys."""

    secret: str
    env: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class ComputeTargetSpec:
    """A named place where steps run (Azure ML's compute target), declared once per pipeline.

    ``image`` is the default image of steps whose environment names none. Quantities (``cpu_*``,
    ``memory_*``) use Kubernetes notation (``"500m"``, ``"4Gi"``); Docker converts them.
    ``gpu_type`` selects nodes on Kubernetes (``node_selector`` label ``gpu_type_label``) and is recorded
    for Docker, which exposes ``gpu_count`` devices (-1: all) through ``device_requests``.
    """

    name: str
    kind: ComputeKind = "local"
    image: str | None = None
    gpu_count: int = 0
    gpu_type: str | None = None
    gpu_type_label: str = "nvidia.com/gpu.product"
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[tuple[str, str], ...], ...] = ()
    namespace: str | None = None
    service_account: str | None = None
    volumes: tuple[VolumeSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    image_pull_policy: PullPolicy | None = None
    docker_url: str | None = None
    network_mode: str | None = None
    in_cluster: bool | None = None
    config_file: str | None = None
    kubernetes_conn_id: str | None = None
    source_path: str | None = None
    storage_secret: str | None = None
    """Kubernetes: a secret whose key ``MLP_STORAGE_CONNECTIONS`` holds the pod's storage credentials
    (otherwise they are rendered from the Airflow connections at run time)."""
    location: SourceLocation | None = None


LOCAL_TARGET = ComputeTargetSpec(LOCAL_COMPUTE)
"""The implicit target every pipeline has: a child process on the Airflow worker."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """A step environment (Azure ML's ``Environment``): an image, plus pip requirements baked into it.

    The pip list does not install anything at run time: ``mlpipelines dockerfile`` writes the build
    context that bakes it into ``image``; both are fingerprint components.
    """

    name: str
    image: str | None = None
    pip: tuple[str, ...] = ()
    conda: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    location: SourceLocation | None = None

    def describe(self, default_image: str | None = None) -> dict[str, object]:
        """Canonical content for the fingerprint: what changes results, not the environment's name."""
        return {
            "image": self.image or default_image,
            "pip": list(self.pip),
            "conda": list(self.conda),
            "env": dict(self.env),
        }


def find_target(
    targets: Sequence[ComputeTargetSpec], name: str, *, step: StepSpec | None = None
) -> ComputeTargetSpec:
    """The target called ``name`` (``local`` always exists); a clear error with did-you-mean otherwise."""
    for target in targets:
        if target.name == name:
            return target
    if name == LOCAL_COMPUTE:
        return LOCAL_TARGET
    known = [LOCAL_COMPUTE, *(t.name for t in targets)]
    raise DefinitionError(
        f"unknown compute target '{name}'",
        location=step.location if step is not None else None,
        step=step.name if step is not None else None,
        field="compute",
        hint=did_you_mean(name, known)
        or f"declared targets: {', '.join(known)} (add it under compute_targets)",
    )


def check_compute(
    steps: Sequence[StepSpec],
    targets: Sequence[ComputeTargetSpec],
    environments: Sequence[EnvironmentSpec],
) -> None:
    """Every step names a declared target and environment; containers have an image; local has no GPU."""
    problems = Problems()
    seen: set[str] = set()
    for target in targets:
        with problems.each():
            _check_target(target, seen)
    env_names = [e.name for e in environments]
    for step in steps:
        with problems.each():
            _check_step_compute(step, targets, environments, env_names)
    problems.raise_if_any()


def _check_step_compute(
    step: StepSpec,
    targets: Sequence[ComputeTargetSpec],
    environments: Sequence[EnvironmentSpec],
    env_names: list[str],
) -> None:
    target = find_target(targets, step.compute.name, step=step)
    env_name = step.environment_name
    if env_name is not None and env_name not in env_names:
        raise DefinitionError(
            f"unknown environment '{env_name}'",
            location=step.location,
            step=step.name,
            field="environment",
            hint=did_you_mean(env_name, env_names)
            or f"declared environments: {', '.join(env_names) or 'none'}",
        )
    env = next((e for e in environments if e.name == env_name), None)
    if target.kind != "local" and not ((env and env.image) or target.image):
        raise DefinitionError(
            f"step runs on {target.kind} target '{target.name}' but neither the target nor the "
            "step's environment names an image",
            location=step.location,
            step=step.name,
            field="environment",
            hint=f"set image on compute target '{target.name}' or on the step's environment",
        )


def _check_target(target: ComputeTargetSpec, seen: set[str]) -> None:
    if target.name in seen:
        raise DefinitionError(
            f"duplicate compute target '{target.name}'", location=target.location, field="compute_targets"
        )
    seen.add(target.name)
    if target.kind == "local" and target.gpu_count:
        raise DefinitionError(
            f"compute target '{target.name}' is local but requests {target.gpu_count} GPU(s)",
            location=target.location,
            field=f"compute_targets.{target.name}.gpu_count",
            hint="a local step is a process on the Airflow worker; use kind docker or kubernetes for GPUs",
        )
    if target.name == LOCAL_COMPUTE and target.kind != "local":
        raise DefinitionError(
            f"compute target 'local' must be of kind local, not {target.kind}",
            location=target.location,
            field="compute_targets.local.kind",
            hint="give the container target another name",
        )
    for volume in target.volumes:
        if (volume.host_path is None) == (volume.claim is None):
            raise DefinitionError(
                f"volume '{volume.name}' needs exactly one of host_path and claim",
                location=target.location,
                field=f"compute_targets.{target.name}.volumes",
            )


def step_target(pipeline: PipelineSpec, step: StepSpec) -> ComputeTargetSpec:
    """The compute target a step of a validated pipeline runs on."""
    return find_target(pipeline.compute_targets, step.compute.name, step=step)


def step_environment(pipeline: PipelineSpec, step: StepSpec) -> dict[str, object]:
    """The step's environment as canonical content (a fingerprint component).

    Local steps without a declared environment keep their inline description (empty by default), so
    their fingerprints do not change; container steps always carry the image they run in.
    """
    target = step_target(pipeline, step)
    env = next((e for e in pipeline.environments if e.name == step.environment_name), None)
    if env is not None:
        return env.describe(target.image)
    described = dict(step.environment)
    if target.kind != "local":
        described.setdefault("image", target.image)
    return described


def step_conda(pipeline: PipelineSpec, step: StepSpec) -> list[str]:
    """Conda packages baked into the step's image (``mlpipelines dockerfile``: ``conda install``)."""
    conda = step_environment(pipeline, step).get("conda")
    return [str(p) for p in conda] if isinstance(conda, list | tuple) else []


def warn_uninstalled_packages(
    steps: Sequence[StepSpec], targets: Sequence[ComputeTargetSpec], environments: Sequence[EnvironmentSpec]
) -> None:
    """A local step runs in the worker's own Python: its environment's pip/conda packages are not
    installed for it. Say so at the step's line (never drop them silently)."""
    import warnings

    from airflow_mlpipelines.exceptions import MLPipelinesWarning

    by_name = {e.name: e for e in environments}
    for step in steps:
        env = by_name.get(step.environment_name or "")
        if env is None or not (env.pip or env.conda):
            continue
        target = next((t for t in targets if t.name == step.compute.name), LOCAL_TARGET)
        if target.kind != "local":
            continue
        packages = ", ".join([*env.pip, *(f"conda:{c}" for c in env.conda)])
        loc = step.location
        warnings.warn_explicit(
            f"step '{step.name}': runs as a local process in the Airflow worker's Python, so its "
            f"environment's packages ({packages}) are not installed for it: install them on the workers, "
            "or run the step on a docker/kubernetes target (`mlpipelines dockerfile` bakes them in)",
            MLPipelinesWarning,
            loc.file if loc else "<unknown>",
            (loc.line or 0) if loc else 0,
        )


def step_image(pipeline: PipelineSpec, step: StepSpec) -> str | None:
    """The image a container step runs in: its environment's, else its target's."""
    image = step_environment(pipeline, step).get("image")
    return str(image) if image else None


def step_env_vars(pipeline: PipelineSpec, step: StepSpec) -> dict[str, str]:
    """Environment variables the step's environment sets in its container or pod."""
    env = step_environment(pipeline, step).get("env")
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}


def step_pip(pipeline: PipelineSpec, step: StepSpec) -> list[str]:
    """Pip requirements baked into the step's image."""
    pip = step_environment(pipeline, step).get("pip")
    return [str(p) for p in pip] if isinstance(pip, list | tuple) else []
