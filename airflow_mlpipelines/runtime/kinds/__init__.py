"""Step kinds are registered, not branched: each kind is one module with one :class:`StepKind`.

A kind says whether its source tree is hashed, which fingerprint components it adds and how the
runner executes it; the registry also names the operator that runs it on a worker (local compute).
Entries are import paths, resolved on first use, so naming a kind (at DAG parse time) imports nothing
heavy. A new kind is one module plus one :func:`register` call, as ``data_transfer`` and
``parallel_run`` were.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_mlpipelines.exceptions import PlanError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.reuse.source_tree import DigestCache
    from airflow_mlpipelines.runtime.kinds.data_transfer import Databases
    from airflow_mlpipelines.runtime.plan import StagedFrame
    from airflow_mlpipelines.runtime.runner import Job


def _ignore(_: str) -> None:
    return None


@dataclass
class PlanContext:
    """What a kind may use while the reuse task fingerprints a step: DataFrames handed to it, the digest
    cache, SQL datastores (a data transfer's ``reuse_query``), the run, and the task log."""

    cache: DigestCache
    run_id: str
    frames: Mapping[str, StagedFrame] = field(default_factory=dict)
    databases: Databases | None = None
    say: Callable[[str], None] = _ignore


class StepKind(Protocol):
    """What the runner and the reuse task need to know about one kind of step."""

    name: str
    hashes_source_tree: bool
    """Whether the step's source directory is a fingerprint component (an inline script's is not)."""
    stages_data: bool
    """Whether the runner stages inputs and output folders locally for the kind (scripts need paths);
    a data transfer moves data between stores itself and hands back ``job.described``."""

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """Kind-specific fingerprint components (digests) and their readable details."""
        ...

    def execute(self, job: Job) -> None:
        """Run the user's code for ``job`` (inputs staged, output folders fresh); fill ``job.result``."""
        ...


_REGISTRY: dict[str, str] = {
    "python_script": "airflow_mlpipelines.runtime.kinds.python_script:KIND",
    "execute_python_script": "airflow_mlpipelines.runtime.kinds.execute_python_script:KIND",
    "data_transfer": "airflow_mlpipelines.runtime.kinds.data_transfer:KIND",
    "command": "airflow_mlpipelines.runtime.kinds.command:KIND",
    "parallel_run": "airflow_mlpipelines.runtime.kinds.parallel_run:KIND",
}
_OPERATORS: dict[str, str] = {
    "python_script": "airflow_mlpipelines.operators.python_script.PythonScriptStepOperator",
    "execute_python_script": (
        "airflow_mlpipelines.operators.execute_python_script.ExecutePythonScriptOperator"
    ),
    "data_transfer": "airflow_mlpipelines.operators.data_transfer.DataTransferOperator",
    "command": "airflow_mlpipelines.operators.command.CommandStepOperator",
    "parallel_run": "airflow_mlpipelines.operators.parallel_run.ParallelRunOperator",
}
"""The local operator of each kind, known without importing the kind (the DAG factory needs only this)."""
_LOADED: dict[str, StepKind] = {}


def register(name: str, target: str, local_operator: str) -> None:
    """Register step kind ``name`` as ``"package.module:ATTRIBUTE"`` (a :class:`StepKind`) run on
    workers by ``local_operator`` (an operator class's import path)."""
    _REGISTRY[name] = target
    _OPERATORS[name] = local_operator
    _LOADED.pop(name, None)


def local_operator(name: str) -> str:
    """Import path of the operator that runs step kind ``name`` on a worker."""
    try:
        return _OPERATORS[name]
    except KeyError:
        raise PlanError(f"unknown step kind {name!r} (registered: {', '.join(registered())})") from None


def registered() -> list[str]:
    """Names of every registered step kind."""
    return sorted(_REGISTRY)


def step_kind(name: str) -> StepKind:
    """The registered kind called ``name``."""
    loaded = _LOADED.get(name)
    if loaded is not None:
        return loaded
    target = _REGISTRY.get(name)
    if target is None:
        raise PlanError(f"unknown step kind {name!r} (registered: {', '.join(registered())})")
    module, _, attribute = target.partition(":")
    kind: StepKind = getattr(importlib.import_module(module), attribute)
    _LOADED[name] = kind
    return kind
