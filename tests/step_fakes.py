"""Build a step's description and the run-time hand-over by hand, for operator tests without a scheduler.

``FakeTI`` answers the two XCom calls a step's tasks make: pull an upstream step's plan, push their own.
``publish`` commits a real manifest for an upstream step's outputs (what its compute task would have
done) and returns the plan that points at it, so consumers resolve inputs exactly as in a DAG run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.model import DatastoreSpec
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime.plan import Origin, StepPlan

RUN_ID = "manual__2026-01-01T00:00:00+00:00"


def make_task(
    source: Path | str,
    script: str,
    *,
    kind: str = "python_script",
    inputs: dict[str, dict[str, Any]] | None = None,
    outputs: dict[str, str] | None = None,
    datastores: dict[str, str | None] | None = None,
    parameters: tuple[str, ...] = (),
    **fields: Any,
) -> StepTask:
    """A ``StepTask`` of pipeline ``p``, step ``s``; inputs as ``{"step": producer}`` or a dataset."""
    bindings = []
    for name, spec in (inputs or {}).items():
        if "step" in spec:
            bindings.append(InputBinding(name, producer=spec["step"]))
        else:
            bindings.append(
                InputBinding(
                    name, datastore=spec["datastore"], path=spec["path"], mode=spec.get("mode", "direct")
                )
            )
    return StepTask(
        pipeline="p",
        step="s",
        kind=kind,
        script_name=script,
        source_directory=str(source),
        target=LOCAL_TARGET,
        inputs=tuple(bindings),
        outputs=tuple(OutputBinding(n, d) for n, d in (outputs or {}).items()),
        datastores=tuple(DatastoreSpec(n, u) for n, u in (datastores or {}).items()),
        parameters=parameters,
        **fields,
    )


def publish(folder: Path, step: str, outputs: dict[str, str]) -> dict[str, Any]:
    """Commit a manifest for ``step``'s existing output folders; return its (reuse) plan's JSON."""
    fp = Fingerprint({"step": step})
    loc = str(folder / "_published" / step)
    manifest = store.build_manifest(
        pipeline="p",
        step=step,
        fingerprint=fp,
        outputs=store.describe_outputs(outputs),
        urls=outputs,
        produced_by={"dag_id": "p", "run_id": RUN_ID, "task_id": f"{step}.run"},
    )
    store.commit(loc, manifest)
    task = StepTask(
        pipeline="p",
        step=step,
        kind="python_script",
        script_name="x.py",
        source_directory=str(folder),
        target=LOCAL_TARGET,
    )
    plan = StepPlan(
        task=task,
        decision="reuse",
        dag_id="p",
        run_id=RUN_ID,
        fingerprint=fp,
        manifest=loc,
        produced_by=Origin("p", RUN_ID, f"{step}.run"),
        outputs=outputs,
    )
    return plan.to_json()


class FakeTI:
    """The TaskInstance calls a step task makes: pull upstream steps' plans, push its own values."""

    dag_id = "p"

    def __init__(self, plans: dict[str, dict[str, Any]] | None = None) -> None:
        self.plans = {f"{step}.reuse": plan for step, plan in (plans or {}).items()}
        self.pushed: dict[str, object] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> object:
        return self.plans.get(task_ids) if key == "mlp_plan" else None

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def context(params: dict[str, Any] | None = None, plans: dict[str, dict[str, Any]] | None = None) -> Any:
    """A task context with the run id the tests assert on."""
    return {"params": params or {}, "run_id": RUN_ID, "ti": FakeTI(plans), "dag_run": None}
