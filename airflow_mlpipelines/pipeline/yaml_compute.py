"""YAML schema of compute targets and environments (``compute_targets:``, ``environments:``), pydantic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, EnvironmentSpec, SecretSpec, VolumeSpec

if TYPE_CHECKING:
    from airflow_mlpipelines.exceptions import SourceLocation


class _StrictCompute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TolerationModel(_StrictCompute):
    """``compute_targets.<name>.tolerations[]``: a Kubernetes toleration."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class VolumeModel(_StrictCompute):
    """``compute_targets.<name>.volumes[]``: a host path or a persistent volume claim, mounted."""

    name: str
    mount_path: str
    host_path: str | None = None
    claim: str | None = None
    read_only: bool = False


class SecretModel(_StrictCompute):
    """``compute_targets.<name>.secrets[]``: a Kubernetes secret as env (one key, or all keys)."""

    secret: str
    env: str | None = None
    key: str | None = None


Quantity = str | int | float


class ComputeTargetModel(_StrictCompute):
    """``compute_targets.<name>``: where steps run."""

    kind: Literal["local", "docker", "kubernetes"] = "local"
    image: str | None = None
    gpu_count: int = Field(default=0, ge=-1)
    gpu_type: str | None = None
    gpu_type_label: str = "nvidia.com/gpu.product"
    cpu_request: Quantity | None = None
    cpu_limit: Quantity | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    node_selector: dict[str, str] = {}
    tolerations: list[TolerationModel] = []
    namespace: str | None = None
    service_account: str | None = None
    volumes: list[VolumeModel] = []
    secrets: list[SecretModel] = []
    env: dict[str, str] = {}
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    docker_url: str | None = None
    network_mode: str | None = None
    in_cluster: bool | None = None
    config_file: str | None = None
    kubernetes_conn_id: str | None = None
    source_path: str | None = None
    storage_secret: str | None = None


class EnvironmentModel(_StrictCompute):
    """``environments.<name>`` or a step's inline ``environment``: an image and what is baked into it."""

    image: str | None = None
    pip: list[str] = []
    conda: list[str] = []
    env: dict[str, str] = {}


COMPUTE_KEYS_BY_SECTION: dict[str, list[str]] = {
    "compute_targets": list(ComputeTargetModel.model_fields),
    "environments": list(EnvironmentModel.model_fields),
    "tolerations": list(TolerationModel.model_fields),
    "volumes": list(VolumeModel.model_fields),
    "secrets": list(SecretModel.model_fields),
}
"""Known keys per section, for did-you-mean hints on misspelt keys."""


def _quantity(value: str | int | float | None) -> str | None:
    return None if value is None else str(value)


def target_spec(name: str, model: ComputeTargetModel, location: SourceLocation) -> ComputeTargetSpec:
    """The pure model of one declared compute target."""
    return ComputeTargetSpec(
        name=name,
        kind=model.kind,
        image=model.image,
        gpu_count=model.gpu_count,
        gpu_type=model.gpu_type,
        gpu_type_label=model.gpu_type_label,
        cpu_request=_quantity(model.cpu_request),
        cpu_limit=_quantity(model.cpu_limit),
        memory_request=model.memory_request,
        memory_limit=model.memory_limit,
        node_selector=tuple(sorted(model.node_selector.items())),
        tolerations=tuple(
            tuple(sorted((k, str(v)) for k, v in t.model_dump(exclude_none=True).items()))
            for t in model.tolerations
        ),
        namespace=model.namespace,
        service_account=model.service_account,
        volumes=tuple(VolumeSpec(**v.model_dump()) for v in model.volumes),
        secrets=tuple(SecretSpec(**s.model_dump()) for s in model.secrets),
        env=tuple(sorted(model.env.items())),
        image_pull_policy=model.image_pull_policy,
        docker_url=model.docker_url,
        network_mode=model.network_mode,
        in_cluster=model.in_cluster,
        config_file=model.config_file,
        kubernetes_conn_id=model.kubernetes_conn_id,
        source_path=model.source_path,
        storage_secret=model.storage_secret,
        location=location,
    )


def inline_environment_name(step: str) -> str:
    """The name under which a step's inline ``environment:`` mapping is declared."""
    return f"{step}:inline"


def environment_spec(name: str, model: EnvironmentModel, location: SourceLocation) -> EnvironmentSpec:
    """The pure model of one environment."""
    return EnvironmentSpec(
        name=name,
        image=model.image,
        pip=tuple(model.pip),
        conda=tuple(model.conda),
        env=tuple(sorted(model.env.items())),
        location=location,
    )
