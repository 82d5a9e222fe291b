"""The step contract (issue 11): one typed description, one plan, one publication record, errors as data."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import PlanError, StorageError
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.step_task import OutputBinding, StepTask, step_tasks
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime import publication
from airflow_mlpipelines.runtime.plan import PLAN_VERSION, Origin, StepPlan
from airflow_mlpipelines.runtime.step_main import main
from airflow_mlpipelines.storage import FsspecStorage

EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples" / "definitions"
STORAGE = FsspecStorage()


@pytest.mark.parametrize("definition", [*sorted(p.name for p in EXAMPLES.glob("*.y*ml")), "seed004_sdk.py"])
def test_every_example_step_task_round_trips_through_plain_json(definition: str) -> None:
    for pipeline in load_definition(str(EXAMPLES / definition)):
        for task in step_tasks(pipeline):
            data = task.to_json()
            assert json.loads(json.dumps(data)) == data  # plain JSON: no tuples left for a raw XCom read
            assert StepTask.from_json(json.loads(json.dumps(data))) == replace(
                task, target=replace(task.target, location=None)
            )


def _task(tmp_path: Path) -> StepTask:
    return StepTask(
        pipeline="p",
        step="s",
        kind="python_script",
        script_name="s.py",
        source_directory=str(tmp_path),
        target=LOCAL_TARGET,
        outputs=(OutputBinding("out", "workspaceblobstore"),),
    )


def _plan(tmp_path: Path, decision: str = "run", run_id: str = "r1", fp: str = "x") -> StepPlan:
    return StepPlan(
        task=_task(tmp_path),
        decision=decision,  # type: ignore[arg-type]
        dag_id="p",
        run_id=run_id,
        fingerprint=Fingerprint({"step": fp}),
        manifest=str(tmp_path / "manifest"),
        produced_by=Origin("p", run_id, "s.run"),
        outputs={"out": str(tmp_path / "out")},
    )


def _commit(tmp_path: Path, plan: StepPlan, run_id: str) -> dict[str, Any]:
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / "f.txt").write_text("data")
    manifest = store.build_manifest(
        pipeline="p",
        step="s",
        fingerprint=plan.fingerprint,
        outputs=store.describe_outputs({"out": str(tmp_path / "out")}),
        urls=dict(plan.outputs),
        produced_by={"dag_id": "p", "run_id": run_id, "task_id": "s.run"},
    )
    store.commit(plan.manifest, manifest)
    return manifest


class TestPlan:
    def test_round_trip(self, tmp_path: Path) -> None:
        plan = _plan(tmp_path)
        assert StepPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan

    def test_other_version_or_shape_is_a_plan_error(self, tmp_path: Path) -> None:
        data = _plan(tmp_path).to_json()
        with pytest.raises(PlanError, match=f"this runtime reads version {PLAN_VERSION}"):
            StepPlan.from_json({**data, "plan_version": 1})
        with pytest.raises(PlanError, match="malformed: KeyError"):
            StepPlan.from_json({k: v for k, v in data.items() if k != "task"})
        with pytest.raises(PlanError, match="JSON object"):
            StepPlan.from_json([data])


class TestPublication:
    def test_a_committed_manifest_with_the_plans_fingerprint_is_published(self, tmp_path: Path) -> None:
        plan = _plan(tmp_path)
        manifest = _commit(tmp_path, plan, "r1")
        found, reason = publication.find(plan, STORAGE, compute_state="success")
        assert reason is None
        assert found is not None
        assert found.outputs == {"out": str(tmp_path / "out")}
        assert found.manifest_digest == manifest["digest"]
        assert (found.reused, found.task_id) == (False, "s.run")

    def test_a_failed_compute_task_is_never_published(self, tmp_path: Path) -> None:
        plan = _plan(tmp_path)
        _commit(tmp_path, plan, "an-earlier-run")  # a manifest of the same fingerprint is there
        found, reason = publication.find(plan, STORAGE, compute_state="failed")
        assert found is None
        assert reason == "its compute task is failed"

    def test_nothing_committed_or_another_fingerprint(self, tmp_path: Path) -> None:
        plan = _plan(tmp_path)
        assert publication.find(plan, STORAGE)[1] == f"it committed no manifest at {plan.manifest}"
        _commit(tmp_path, _plan(tmp_path, fp="other"), "r1")
        assert (
            publication.find(plan, STORAGE)[1]
            == f"the manifest at {plan.manifest} is for another fingerprint"
        )
        assert "handed over no plan" in str(publication.find(None, STORAGE)[1])

    def test_consumers_get_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(Exception, match="step 'c': upstream step 's' published no outputs: it committed"):
            publication.published(_plan(tmp_path), STORAGE, step="s", consumer="c")

    def test_a_reuse_plan_is_published_as_reused(self, tmp_path: Path) -> None:
        plan = _plan(tmp_path, decision="reuse", run_id="r2")
        _commit(tmp_path, plan, "r1")
        found, _ = publication.find(plan, STORAGE, compute_state="skipped")
        assert found is not None
        assert (found.reused, found.task_id, found.origin.run_id) == (True, "s.reuse", "r1")


def test_an_unreadable_manifest_is_an_error_not_a_miss(tmp_path: Path) -> None:
    (tmp_path / "m" / store.MANIFEST_NAME).mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(StorageError, match=f"cannot read {tmp_path / 'm' / store.MANIFEST_NAME}"):
        store.load_manifest(str(tmp_path / "m"))
    assert store.load_manifest(str(tmp_path / "absent")) is None


def test_the_container_exit_status_is_the_scripts(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("import sys\nsys.exit(7)\n")
    plan = _plan(tmp_path)
    plan = replace(plan, source_directory=str(tmp_path), arguments=[])
    assert main([json.dumps(plan.to_json())]) == 7
    (tmp_path / "s.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(plan.to_json())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 128 + 9
    assert "killed by SIGKILL; SIGKILL is often the out-of-memory killer" in done.stdout
