"""The run-time plan of one step in one DAG run, and the names its hand-over uses (XCom key, task ids).

A step's reuse task always ends with a :class:`StepPlan` in XCom under :data:`PLAN_KEY`: either
``decision="reuse"`` (a verified manifest exists; the compute task is skipped) or ``decision="run"``
(the fingerprint, resolved input and output URLs, parameter values, lease and limits the runner
needs). Every compute kind runs the same runner on it: the local operators call it on the worker, and
the official Docker/Kubernetes operators pass the plan's JSON to ``runtime.step_main`` in the
container. Pure (no Airflow): containers import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlpipelines.exceptions import PlanError
from airflow_mlpipelines.pipeline.step_task import StepTask, Token
from airflow_mlpipelines.reuse.fingerprint import Fingerprint

if TYPE_CHECKING:
    from collections.abc import Mapping

PLAN_VERSION = 2
"""Bumped when the plan's JSON changes incompatibly; the runner refuses other versions."""
PLAN_KEY = "mlp_plan"
"""XCom key of the plan, pushed by ``<step>.reuse``."""
REUSE_TASK_ID = "reuse"
COMPUTE_TASK_ID = "run"
PARTITION_TASK_ID = "partition"
"""A parallel run step's task between its reuse and its mapped mini-batch tasks."""
BATCH_TASK_ID = "batch"
"""A parallel run step's mapped task (one instance per mini-batch)."""
Decision = Literal["run", "reuse"]


def task_id(step: str, leaf: str) -> str:
    """``<step>.reuse`` / ``<step>.run``: the tasks of a step's task group."""
    return f"{step}.{leaf}"


def step_of(task_id_: str) -> str:
    """The step a task belongs to: ``train.run`` and ``train.reuse`` (a parallel run's ``.partition`` and
    ``.batch`` too) → ``train``; others unchanged."""
    group, _, leaf = task_id_.rpartition(".")
    leaves = (COMPUTE_TASK_ID, REUSE_TASK_ID, PARTITION_TASK_ID, BATCH_TASK_ID)
    return group if group and leaf in leaves else task_id_


def lease_holder(dag_id: str, run_id: str) -> str:
    """The in-flight lease holder: one DAG run (its reuse task takes it, its compute task keeps it)."""
    return f"{dag_id}/{run_id}"


@dataclass(frozen=True)
class Origin:
    """Which task of which run produced (or reused) something."""

    dag_id: str
    run_id: str
    task_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Origin:
        """From the JSON dict a manifest or plan holds."""
        return cls(str(data.get("dag_id")), str(data.get("run_id")), str(data.get("task_id")))

    def to_json(self) -> dict[str, str]:
        """Plain JSON."""
        return {"dag_id": self.dag_id, "run_id": self.run_id, "task_id": self.task_id}


@dataclass(frozen=True)
class LeaseSpec:
    """The in-flight lease the plan's run holds: its folder URL, holder and period."""

    url: str
    holder: str
    seconds: float


@dataclass(frozen=True)
class Limits:
    """Run-time limits resolved from ``[mlpipelines]`` on the worker (containers read no settings)."""

    kill_grace_seconds: float = 10.0
    time_limit_seconds: float = 0.0
    memory_limit_mb: int = 0
    bundle_max_bytes: int = 256 * 1024 * 1024
    bundle_max_files: int = 10_000
    lease_poll_seconds: float = 2.0


@dataclass(frozen=True)
class StagedFrame:
    """A DataFrame handed to an Execute Python Script port (a hand-written DAG's ``XComArg``), already
    written for the child as an Arrow file on the worker; its digest is a fingerprint component."""

    path: str
    digest: str


@dataclass(frozen=True)
class StepPlan:
    """One step's decision and everything the runner needs (see the module docstring)."""

    task: StepTask
    decision: Decision
    dag_id: str
    run_id: str
    fingerprint: Fingerprint
    manifest: str
    """URL of the folder holding the fingerprint's manifest (and lease)."""
    produced_by: Origin
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    arguments: list[list[Token]] = field(default_factory=list)
    source_directory: str = ""
    lease: LeaseSpec | None = None
    reused_from: Origin | None = None
    reason: str = ""
    limits: Limits = field(default_factory=Limits)
    frames: dict[str, StagedFrame] = field(default_factory=dict)
    run_as: tuple[int, int] | None = None
    mounts: dict[str, str] = field(default_factory=dict)
    models: str = ""
    """URL of the model registry the step's script registers to and reads from ('' : none)."""
    registry: str | None = None
    """The dataset registry's URL, when an output is registered on completion (``register_as``)."""
    version: int = PLAN_VERSION

    @property
    def step(self) -> str:
        """The step's name."""
        return self.task.step

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (XCom value, and the container's one argument)."""
        return {
            "plan_version": self.version,
            "task": self.task.to_json(),
            "decision": self.decision,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "fingerprint": self.fingerprint.to_json(),
            "manifest": self.manifest,
            "produced_by": self.produced_by.to_json(),
            "inputs": dict(self.inputs),
            "outputs": dict(self.outputs),
            "parameters": dict(self.parameters),
            "arguments": [list(a) for a in self.arguments],
            "source_directory": self.source_directory,
            "lease": None
            if self.lease is None
            else {"url": self.lease.url, "holder": self.lease.holder, "seconds": self.lease.seconds},
            "reused_from": None if self.reused_from is None else self.reused_from.to_json(),
            "reason": self.reason,
            "limits": vars(self.limits).copy(),
            "frames": {p: {"path": f.path, "digest": f.digest} for p, f in self.frames.items()},
            "run_as": None if self.run_as is None else list(self.run_as),
            "mounts": dict(self.mounts),
            "models": self.models,
            "registry": self.registry,
        }

    @classmethod
    def from_json(cls, data: Any) -> StepPlan:
        """Read a plan back; a plan of another version or shape is a :class:`PlanError`."""
        if not isinstance(data, dict):
            raise PlanError("the step plan must be a JSON object")
        if data.get("plan_version") != PLAN_VERSION:
            raise PlanError(
                f"unsupported plan version {data.get('plan_version')!r} (this runtime reads version "
                f"{PLAN_VERSION}: is the step image's airflow-mlpipelines the same release as the workers'?)"
            )
        try:
            lease = data.get("lease")
            reused = data.get("reused_from")
            run_as = data.get("run_as")
            return cls(
                task=StepTask.from_json(data["task"]),
                decision=data["decision"],
                dag_id=str(data["dag_id"]),
                run_id=str(data["run_id"]),
                fingerprint=Fingerprint.from_json(data["fingerprint"]),
                manifest=str(data["manifest"]),
                produced_by=Origin.from_json(data["produced_by"]),
                inputs={str(k): str(v) for k, v in dict(data.get("inputs", {})).items()},
                outputs={str(k): str(v) for k, v in dict(data.get("outputs", {})).items()},
                parameters=dict(data.get("parameters", {})),
                arguments=[list(a) for a in data.get("arguments", [])],
                source_directory=str(data.get("source_directory", "")),
                lease=None
                if lease is None
                else LeaseSpec(str(lease["url"]), str(lease["holder"]), float(lease["seconds"])),
                reused_from=None if reused is None else Origin.from_json(reused),
                reason=str(data.get("reason", "")),
                limits=Limits(**dict(data.get("limits", {}))),
                frames={
                    p: StagedFrame(str(f["path"]), str(f["digest"]))
                    for p, f in dict(data.get("frames", {})).items()
                },
                run_as=None if run_as is None else (int(run_as[0]), int(run_as[1])),
                mounts={str(k): str(v) for k, v in dict(data.get("mounts", {})).items()},
                models=str(data.get("models") or ""),
                registry=None if data.get("registry") is None else str(data["registry"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"the step plan is malformed: {type(exc).__name__}: {exc}") from None
