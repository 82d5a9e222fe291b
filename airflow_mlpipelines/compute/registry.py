"""Compute kinds are registered, not branched: ``local``, ``docker`` and ``kubernetes`` are entries here.

Each kind is one module exposing a :class:`ComputeKind`: how a step's compute task is built (a
:class:`~airflow_mlpipelines.compute.base.TaskSpec`, at parse time, from the step's ``StepTask`` alone),
what the reuse task checks and adds to the plan before handing it over (``prepare``, at run time on the
worker), and whether ``mlpipelines dockerfile`` writes a build context for it. Entries are import paths
resolved on first use, so the DAG processor never imports a provider a pipeline does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from airflow_mlpipelines.compute.base import MappedSpec, TaskSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.plan import StepPlan


class ComputeKind(Protocol):
    """One kind of compute target."""

    name: str
    builds_image: bool
    """Whether steps of this kind run in an image that ``mlpipelines dockerfile`` can build."""

    def task_spec(self, task: StepTask) -> TaskSpec:
        """The compute task of a step (operator class path + keyword arguments); no I/O, no settings."""
        ...

    def mapped_spec(self, task: StepTask) -> MappedSpec:
        """The mapped task running one mini-batch of a parallel run step (``.partial().expand()``)."""
        ...

    def mapped_value(self, descriptor: dict[str, Any]) -> Any:
        """What one mapped instance is given for a mini-batch (its ``expand`` keyword's value)."""
        ...

    def prepare(self, plan: StepPlan, warn: Callable[[str], None]) -> StepPlan:
        """Check the target can run the plan (a clear ``ComputeError`` otherwise) and complete the plan;
        ``warn`` logs what may not work."""
        ...


_REGISTRY: dict[str, str] = {
    "local": "airflow_mlpipelines.compute.local:KIND",
    "docker": "airflow_mlpipelines.compute.docker:KIND",
    "kubernetes": "airflow_mlpipelines.compute.kubernetes:KIND",
}
_LOADED: dict[str, ComputeKind] = {}


def register(name: str, target: str) -> None:
    """Register compute kind ``name`` as ``"package.module:ATTRIBUTE"``."""
    _REGISTRY[name] = target
    _LOADED.pop(name, None)


def compute_kind(name: str) -> ComputeKind:
    """The registered compute kind ``name`` (KeyError for an unknown one: the model validated it)."""
    kind = _LOADED.get(name)
    if kind is None:
        module, _, attribute = _REGISTRY[name].partition(":")
        kind = _LOADED[name] = getattr(importlib.import_module(module), attribute)
    return kind
