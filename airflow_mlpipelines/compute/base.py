"""What every compute target shares: the task it renders to, and how the step's plan reaches it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.runtime.plan import PLAN_KEY, REUSE_TASK_ID, task_id

RUNTIME_MODULE = "airflow_mlpipelines.runtime.step_main"
"""What runs inside the container or pod (imports no Airflow)."""
CONTAINER_PYTHON = "python3"
STORAGE_FILTER = "mlp_storage_connections"
"""The DAG's Jinja filter that turns a plan into the storage options its container gets."""

PROVIDER_EXTRAS = {"docker": "docker", "kubernetes": "kubernetes"}


@dataclass(frozen=True)
class TaskSpec:
    """A compute task: the operator class (import path) and its keyword arguments.

    Naming the class by path keeps ``compute`` free of the operators it configures (cosmos's ``Task``);
    ``dag_factory`` imports and instantiates it as shipped.
    """

    operator_class: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def _pull(group: str) -> str:
    return f"ti.xcom_pull(task_ids='{task_id(group, REUSE_TASK_ID)}', key='{PLAN_KEY}')"


def plan_template(group: str) -> str:
    """Jinja that renders, at run time, to the plan JSON the step's reuse task pushed."""
    return "{{ " + _pull(group) + " | tojson }}"


def plan_value_template(group: str, *keys: str) -> str:
    """Jinja that renders one value of the plan (``plan[key][subkey]...``)."""
    return "{{ " + _pull(group) + "".join(f"['{k}']" for k in keys) + " }}"


def storage_connections_template(group: str) -> str:
    """Jinja that renders the storage options of the plan's connections (masked as a secret)."""
    return "{{ " + _pull(group) + f" | {STORAGE_FILTER}" + " }}"


def runtime_command(group: str) -> list[str]:
    """``python3 -m airflow_mlpipelines.runtime.step_main <plan JSON>``."""
    return [CONTAINER_PYTHON, "-m", RUNTIME_MODULE, plan_template(group)]


MINI_BATCH_FLAG = "--mini-batch"
"""``step_main --mini-batch <descriptor JSON>``: one mini-batch of a parallel run step; the plan comes in
``$MLP_STEP_PLAN`` (templated once for every mapped instance)."""
PLAN_ENV = "MLP_STEP_PLAN"


@dataclass(frozen=True)
class MappedSpec:
    """The mapped compute task of a parallel run step: ``operator_class.partial(**kwargs)`` expanded
    over the partition task's return value as keyword ``expand``."""

    operator_class: str
    kwargs: dict[str, Any]
    expand: str


def mini_batch_argv(descriptor: dict[str, Any]) -> list[str]:
    """The runtime's arguments for one mini-batch in a container."""
    import json

    return [MINI_BATCH_FLAG, json.dumps(descriptor, sort_keys=True)]


def missing_provider(kind: str, target: str, step: str, exc: ImportError, location: Any) -> DefinitionError:
    """The error for a container target whose Airflow provider is not installed."""
    extra = PROVIDER_EXTRAS.get(kind, kind)
    return DefinitionError(
        f"compute target '{target}' is of kind {kind}, but its Airflow provider is not installed ({exc})",
        location=location,
        step=step,
        field="compute",
        hint=f"pip install 'airflow-mlpipelines[{extra}]'",
    )


def quantity_bytes(text: str) -> int:
    """A Kubernetes memory quantity (``512Mi``, ``4Gi``, ``1G``, ``1000``) in bytes, for Docker."""
    units = {
        "Ki": 1024,
        "Mi": 1024**2,
        "Gi": 1024**3,
        "Ti": 1024**4,
        "k": 1000,
        "K": 1000,
        "M": 1000**2,
        "G": 1000**3,
        "T": 1000**4,
    }
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(float(text))


def quantity_cpus(text: str) -> float:
    """A Kubernetes CPU quantity (``500m``, ``2``) as a number of CPUs, for Docker."""
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
