"""Kubernetes target: the official ``KubernetesPodOperator`` configured from a step's description (the
only module that imports the cncf-kubernetes provider and the kubernetes client).

A pod shares no disk with the worker: its datastores must be object storage (credentials handed in as
``$MLP_STORAGE_CONNECTIONS``, from the target's ``storage_secret`` or rendered from the Airflow
connection at run time) or volumes mounted at the same paths.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.compute.base import (
    CONTAINER_PYTHON,
    PLAN_ENV,
    RUNTIME_MODULE,
    MappedSpec,
    TaskSpec,
    mini_batch_argv,
    plan_template,
    storage_connections_template,
)
from airflow_mlpipelines.paths import local_path
from airflow_mlpipelines.storage import CONNECTIONS_ENV

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.plan import StepPlan

OPERATOR = "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator"
GPU_RESOURCE = "nvidia.com/gpu"
_POD_NAME = re.compile(r"[^a-z0-9-]+")


def _resources(target: ComputeTargetSpec) -> Any:
    from kubernetes.client import models as k8s

    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if target.cpu_request:
        requests["cpu"] = target.cpu_request
    if target.memory_request:
        requests["memory"] = target.memory_request
    if target.cpu_limit:
        limits["cpu"] = target.cpu_limit
    if target.memory_limit:
        limits["memory"] = target.memory_limit
    if target.gpu_count > 0:
        # Extended resources are limits only (Kubernetes sets the request equal to the limit).
        limits[GPU_RESOURCE] = str(target.gpu_count)
    return k8s.V1ResourceRequirements(requests=requests or None, limits=limits or None)


def _tolerations(target: ComputeTargetSpec) -> list[Any]:
    from kubernetes.client import models as k8s

    tolerations = [k8s.V1Toleration(**dict(t)) for t in target.tolerations]
    if target.gpu_count and not any(t.key == GPU_RESOURCE for t in tolerations):
        # GPU node pools are commonly tainted nvidia.com/gpu:NoSchedule; tolerate it unless told otherwise.
        tolerations.append(k8s.V1Toleration(key=GPU_RESOURCE, operator="Exists", effect="NoSchedule"))
    return tolerations


def _volumes(target: ComputeTargetSpec) -> tuple[list[Any], list[Any]]:
    from kubernetes.client import models as k8s

    volumes, mounts = [], []
    for v in target.volumes:
        if v.claim is not None:
            source = {"persistent_volume_claim": k8s.V1PersistentVolumeClaimVolumeSource(claim_name=v.claim)}
        else:
            source = {"host_path": k8s.V1HostPathVolumeSource(path=v.host_path)}
        volumes.append(k8s.V1Volume(name=v.name, **source))
        mounts.append(k8s.V1VolumeMount(name=v.name, mount_path=v.mount_path, read_only=v.read_only))
    return volumes, mounts


def _env(target: ComputeTargetSpec, env: Mapping[str, str], group: str) -> tuple[list[Any], list[Any]]:
    from kubernetes.client import models as k8s

    values = {**dict(target.env), **dict(env), "PYTHONUNBUFFERED": "1"}
    env_vars = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(values.items())]
    if target.storage_secret:
        ref = k8s.V1SecretKeySelector(name=target.storage_secret, key=CONNECTIONS_ENV)
        env_vars.append(k8s.V1EnvVar(name=CONNECTIONS_ENV, value_from=k8s.V1EnvVarSource(secret_key_ref=ref)))
    else:
        env_vars.append(k8s.V1EnvVar(name=CONNECTIONS_ENV, value=storage_connections_template(group)))
    env_from = []
    for s in target.secrets:
        if s.env is not None:
            ref = k8s.V1SecretKeySelector(name=s.secret, key=s.key or s.env)
            env_vars.append(k8s.V1EnvVar(name=s.env, value_from=k8s.V1EnvVarSource(secret_key_ref=ref)))
        else:
            env_from.append(k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=s.secret)))
    return env_vars, env_from


def pod_name(pipeline: str, step: str) -> str:
    """A DNS-1123 pod name prefix; the operator appends a random suffix."""
    return (_POD_NAME.sub("-", f"{pipeline}-{step}".lower()).strip("-") or "step")[:50]


class KubernetesCompute:
    """Steps as pods through the official KubernetesPodOperator."""

    name = "kubernetes"
    builds_image = True

    def task_spec(self, task: StepTask) -> TaskSpec:
        """The KubernetesPodOperator arguments: image, runtime command, GPUs, scheduling, env, volumes."""
        target = task.target
        node_selector = dict(target.node_selector)
        if target.gpu_type:
            node_selector.setdefault(target.gpu_type_label, target.gpu_type)
        volumes, volume_mounts = _volumes(target)
        env_vars, env_from = _env(target, dict(task.env_vars), task.step)
        kwargs: dict[str, Any] = {
            "name": pod_name(task.pipeline, task.step),
            "image": task.image or target.image or "",
            "cmds": [CONTAINER_PYTHON, "-m", RUNTIME_MODULE],
            "arguments": [plan_template(task.step)],
            "container_resources": _resources(target),
            "node_selector": node_selector or None,
            "tolerations": _tolerations(target) or None,
            "volumes": volumes,
            "volume_mounts": volume_mounts,
            "env_vars": env_vars,
            "env_from": env_from or None,
            "get_logs": True,
            "on_finish_action": "delete_pod",
            "do_xcom_push": False,
            "labels": {
                "mlpipelines/pipeline": pod_name(task.pipeline, ""),
                "mlpipelines/step": pod_name(task.step, ""),
            },
        }
        optional = {
            "namespace": target.namespace,
            "service_account_name": target.service_account,
            "image_pull_policy": target.image_pull_policy,
            "in_cluster": target.in_cluster,
            "config_file": target.config_file,
            "kubernetes_conn_id": target.kubernetes_conn_id,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        return TaskSpec(OPERATOR, kwargs)

    def mapped_spec(self, task: StepTask) -> MappedSpec:
        """The step's KubernetesPodOperator arguments with the plan in ``$MLP_STEP_PLAN``, expanded over
        ``arguments`` (``--mini-batch <descriptor>``: one pod per mini-batch)."""
        from kubernetes.client import models as k8s

        kwargs = dict(self.task_spec(task).kwargs)
        del kwargs["arguments"]
        kwargs["env_vars"] = [
            *kwargs["env_vars"],
            k8s.V1EnvVar(name=PLAN_ENV, value=plan_template(task.step)),
        ]
        kwargs["name"] = pod_name(task.pipeline, f"{task.step}-batch")
        return MappedSpec(OPERATOR, kwargs, "arguments")

    def mapped_value(self, descriptor: dict[str, Any]) -> Any:
        """The pod's arguments for one mini-batch."""
        return mini_batch_argv(descriptor)

    def prepare(self, plan: StepPlan, warn: Callable[[str], None]) -> StepPlan:
        """A pod cannot see the worker's disk: warn about every local path no volume of the target mounts.

        Only a warning: an image may hold input data at that path, and a test may play the pod on the
        worker itself; outputs and manifests written there are lost on a real cluster.
        """
        mounted = [v.mount_path.rstrip("/") for v in plan.task.target.volumes]
        urls = {f"input {k}": v for k, v in plan.inputs.items()}
        urls.update({f"output {k}": v for k, v in plan.outputs.items()})
        urls["manifest"] = plan.manifest
        if plan.models:
            urls["model registry"] = plan.models
        for what, url in urls.items():
            path = local_path(url)
            if path is not None and not any(path == m or path.startswith(m + "/") for m in mounted):
                warn(
                    f"step '{plan.step}': compute target '{plan.task.target.name}' (kubernetes): the {what} "
                    f"is the local path {path}, which no volume of the target mounts; a pod shares no disk "
                    "with the Airflow worker, so use object storage for [mlpipelines] datastore_root and the "
                    "datastores (s3://<conn_id>@bucket/...) or mount a volume at that path"
                )
        return plan


KIND = KubernetesCompute()
