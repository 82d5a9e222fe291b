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
    def create(cls, workspace: Any, name: str, provisioning_configuration: Any) -> ComputeTarget:
        """SDK v1's ``ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...))``: nothing
        to provision here (see :class:`AmlCompute`); the target is also in ``ws.compute_targets``."""
        return create_target(workspace, name, provisioning_configuration)

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

    def wait_for_completion(self, show_output: bool = False, **_kwargs: Any) -> None:
        """Nothing to wait for: the target exists once declared."""
        if show_output:
            import sys

            sys.stdout.write(
                f"compute target {self.name}: ready (runs on {self.status.serialize()['runsOn']})\n"
            )

    @property
    def status(self) -> _Status:
        """``status.serialize()`` as SDK v1 samples print it."""
        return _Status(self)

    def get_status(self) -> _Status:
        """The same as :attr:`status`."""
        return self.status

    def delete(self) -> None:
        """Nothing to delete."""

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


DEFAULT_CPU_IMAGE = "python:3.11-slim"
"""SDK v1's ``DEFAULT_CPU_IMAGE``: a base to build step images from (``mlpipelines dockerfile``)."""
DEFAULT_GPU_IMAGE = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
"""SDK v1's ``DEFAULT_GPU_IMAGE``: a CUDA base to build GPU step images from."""


class ComputeTargetException(Exception):
    """SDK v1's ``azureml.exceptions.ComputeTargetException`` (ported ``except`` clauses keep working)."""


LOCAL_DOCKER = "local-docker"
"""The implicit Docker target of a local step whose ``runconfig.docker.use_docker`` is true."""


# -- AmlCompute: provisioning in ported code -------------------------------------------------------------

_GPUS = {
    "standard_nc6": 1, "standard_nc12": 2, "standard_nc24": 4, "standard_nc6s_v3": 1, "standard_nc12s_v3": 2,
    "standard_nc24s_v3": 4, "standard_nc4as_t4_v3": 1, "standard_nc8as_t4_v3": 1, "standard_nc16as_t4_v3": 1,
    "standard_nc64as_t4_v3": 4, "standard_nd40rs_v2": 8, "standard_nd96asr_v4": 8, "standard_nv6": 1,
    "standard_nv12": 2, "standard_nv24": 4,
}  # fmt: skip
"""GPUs per Azure VM size (the sizes SDK v1 samples use); any other ``Standard_N*`` size counts one."""


def gpus_of(vm_size: str) -> int:
    """The GPUs an Azure VM size has (0 for CPU sizes)."""
    size = vm_size.strip().lower()
    if size in _GPUS:
        return _GPUS[size]
    return 1 if size.startswith(("standard_nc", "standard_nd", "standard_nv")) else 0


class AmlComputeProvisioningConfiguration:
    """What ``AmlCompute.provisioning_configuration(...)`` returns: the cluster's VM size and scale."""

    def __init__(self, vm_size: str = "", min_nodes: int = 0, max_nodes: int = 4, **settings: Any) -> None:
        self.vm_size = vm_size
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.settings = settings


class _Status:
    def __init__(self, target: ComputeTarget) -> None:
        self._target = target

    def serialize(self) -> dict[str, Any]:
        """SDK v1's ``compute_target.status.serialize()``: here, where the steps run."""
        spec = self._target.target
        return {"provisioningState": "Succeeded", "runsOn": spec.kind if spec else LOCAL_COMPUTE}


class AmlCompute(ComputeTarget):
    """An Azure ML compute cluster in ported code. Provisioning has nothing to create here: the target runs
    its steps as local processes on the Airflow worker, and a GPU VM size says so with a warning (declare
    ``ComputeTarget.kubernetes(name, gpu_count=...)`` or ``.docker(...)`` for a GPU machine); see the
    README's table of VM sizes."""

    vm_size = ""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", **settings: Any) -> AmlComputeProvisioningConfiguration:
        """SDK v1's cluster settings (VM size, node counts...), kept for :meth:`ComputeTarget.create`."""
        return AmlComputeProvisioningConfiguration(vm_size=vm_size, **settings)


def create_target(workspace: Any, name: str, config: Any) -> ComputeTarget:
    """``ComputeTarget.create(ws, name, provisioning_configuration)`` of ported code (see AmlCompute)."""
    import warnings

    from airflow_mlpipelines.exceptions import MLPipelinesWarning

    location = caller_location()
    target = AmlCompute(workspace, name)
    target.vm_size = str(getattr(config, "vm_size", "") or "")
    target.target = _target_spec(name, "local", {}, location)
    gpus = gpus_of(target.vm_size)
    warnings.warn_explicit(
        f"ComputeTarget.create('{name}', vm_size={target.vm_size or 'default'!r}): nothing is provisioned; "
        "its steps run as local processes on the Airflow worker"
        + (
            f" (the VM size has {gpus} GPU(s): declare ComputeTarget.kubernetes('{name}', gpu_count={gpus}, "
            "image=...) or ComputeTarget.docker(...) to run them on a GPU)"
            if gpus
            else ""
        ),
        MLPipelinesWarning,
        location.file,
        location.line or 0,
    )
    targets = getattr(workspace, "compute_targets", None)
    if isinstance(targets, dict):
        targets[name] = target
    return target
