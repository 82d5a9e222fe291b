"""What a step published in a run: the one answer consumers, fingerprints and the UI plugin share.

The committed manifest is the only record of a step's outputs. A step's plan (its reuse task's XCom)
says where that manifest is and which fingerprint it must carry; this module reads the manifest through
the storage layer and checks it. So a container step (whose compute task is the official operator and
pushes nothing of ours) and a local step are published alike, and a step that committed nothing, or
whose compute task failed, is never published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.runtime.plan import Origin, StepPlan

if TYPE_CHECKING:
    from airflow_mlpipelines.storage import Storage

SUCCESS = "success"


@dataclass(frozen=True)
class Publication:
    """A step's committed outputs as one run sees them."""

    step: str
    outputs: dict[str, str]
    """Output name -> folder URL."""
    manifest_digest: str
    fingerprint: str
    reused: bool
    """True when the outputs come from an earlier run (the reuse task's hit)."""
    origin: Origin
    """The run and task that committed the manifest."""
    manifest: dict[str, Any]

    @property
    def task_id(self) -> str:
        """The task that stands for the publication in this run (``reuse`` on a hit, else ``run``)."""
        from airflow_mlpipelines.runtime.plan import COMPUTE_TASK_ID, REUSE_TASK_ID, task_id

        return task_id(self.step, REUSE_TASK_ID if self.reused else COMPUTE_TASK_ID)


def why_unpublished(
    plan: StepPlan | None, manifest: dict[str, Any] | None, compute_state: str | None
) -> str | None:
    """Why a step's outputs are not published (None when they are)."""
    if plan is None:
        return "its reuse task handed over no plan (it did not run, or failed)"
    if plan.decision == "run" and compute_state is not None and compute_state != SUCCESS:
        return f"its compute task is {compute_state or 'not finished'}"
    if manifest is None:
        return f"it committed no manifest at {plan.manifest}"
    if manifest.get("fingerprint", {}).get("digest") != plan.fingerprint.digest:
        return f"the manifest at {plan.manifest} is for another fingerprint"
    return None


def find(
    plan: StepPlan | None, storage: Storage, *, compute_state: str | None = None
) -> tuple[Publication | None, str | None]:
    """The publication of a step (or None and the reason), read through ``storage``.

    ``compute_state`` is the state of the step's compute task when the caller knows it (the UI plugin
    does; a consumer task only runs after its producers succeeded or were skipped as reused).
    """
    if plan is None or (plan.decision == "run" and compute_state not in (None, SUCCESS)):
        return None, why_unpublished(plan, None, compute_state)
    manifest = store.read_manifest(plan.manifest, storage)
    reason = why_unpublished(plan, manifest, compute_state)
    if reason is not None or manifest is None:
        return None, reason
    return (
        Publication(
            step=plan.step,
            outputs={name: str(out["url"]) for name, out in manifest["outputs"].items()},
            manifest_digest=str(manifest["digest"]),
            fingerprint=plan.fingerprint.digest,
            reused=plan.decision == "reuse",
            origin=Origin.from_json(manifest.get("produced_by", {})),
            manifest=manifest,
        ),
        None,
    )


def published(plan: StepPlan | None, storage: Storage, *, step: str, consumer: str) -> Publication:
    """The publication of ``step`` that ``consumer`` reads; a clear error when there is none."""
    found, reason = find(plan, storage)
    if found is None:
        raise StepExecutionError(f"step '{consumer}': upstream step '{step}' published no outputs: {reason}")
    return found
