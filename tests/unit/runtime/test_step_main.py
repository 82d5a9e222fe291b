"""The runtime entrypoint that runs a step inside its container or pod: same outputs and manifest as the
local compute task, remote datastores staged through fsspec, one-line errors, the lease released."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime.plan import LeaseSpec, Origin, StepPlan
from airflow_mlpipelines.runtime.step_main import load_plan, main, run_plan

SCRIPT = """\
import os, sys
src, out, factor = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(os.path.join(src, "in.txt")).read()
os.makedirs(os.path.join(out, "sub"))
open(os.path.join(out, "sub", "out.txt"), "w").write(text * int(factor))
print("done", factor)
"""

FP = Fingerprint({"step": "a" * 64, "script": "b" * 64}, {"script": "s.py"})


def _plan(tmp_path: Path, inputs: dict[str, str], outputs: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A run plan as the reuse task hands it over (its JSON: what a container receives)."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "s.py").write_text(SCRIPT)
    task = StepTask(
        pipeline="p",
        step="s",
        kind="python_script",
        script_name="s.py",
        source_directory=str(src),
        target=ComputeTargetSpec("box", kind="docker", image="x:1"),
        inputs=tuple(InputBinding(name, path=url) for name, url in inputs.items()),
        outputs=tuple(OutputBinding(name, "workspaceblobstore") for name in outputs),
    )
    lease_spec = extra.pop("lease", None)
    plan = StepPlan(
        task=task,
        decision="run",
        dag_id="p",
        run_id="r1",
        fingerprint=FP,
        manifest=str(tmp_path / "manifests" / FP.short),
        produced_by=Origin("p", "r1", "s.run"),
        inputs=inputs,
        outputs=outputs,
        parameters={"factor": 2},
        arguments=[[{"input": "data"}], [{"output": "result"}], [{"parameter": "factor"}]],
        source_directory=str(src),
        lease=None if lease_spec is None else LeaseSpec(lease_spec["directory"], lease_spec["holder"], 60),
        **extra,
    )
    return plan.to_json()


def test_local_paths_give_the_same_manifest_as_the_local_task(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "in.txt").write_text("ab")
    out = tmp_path / "store" / "result"
    manifest = run_plan(_plan(tmp_path, {"data": str(tmp_path / "in")}, {"result": str(out)}))
    assert (out / "sub" / "out.txt").read_text() == "abab"
    committed = store.read_manifest(str(tmp_path / "manifests" / FP.short))
    assert committed == manifest
    assert committed["fingerprint"] == FP.to_json()
    assert committed["outputs"]["result"]["url"] == str(out)
    assert [f["path"] for f in committed["outputs"]["result"]["files"]] == ["sub/out.txt"]
    assert committed["outputs"] == {
        name: {**out_, "url": str(out)} for name, out_ in store.describe_outputs({"result": str(out)}).items()
    }
    assert store.verify(committed, full=True) == []


def test_remote_datastores_are_downloaded_and_uploaded(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/mlp-test/in/in.txt", b"xy")
    plan = _plan(tmp_path, {"data": "memory://mlp-test/in"}, {"result": "memory://mlp-test/out/result"})
    manifest = run_plan(plan)
    assert fs.cat("/mlp-test/out/result/sub/out.txt") == b"xyxy"
    assert manifest["outputs"]["result"]["url"] == "memory://mlp-test/out/result"
    assert store.verify(manifest, full=True) == []


def test_lease_is_renewed_and_released(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "in.txt").write_text("a")
    lease_dir = tmp_path / "manifests" / FP.short
    lease_dir.mkdir(parents=True)
    assert lease.try_acquire(str(lease_dir), "p/r1", 60) is None
    plan = _plan(
        tmp_path,
        {"data": str(tmp_path / "in")},
        {"result": str(tmp_path / "out")},
        lease={"directory": str(lease_dir), "holder": "p/r1", "seconds": 60},
    )
    run_plan(plan)
    assert lease.read(str(lease_dir)) is None


def test_failing_script_names_step_and_exit_code(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"data": str(tmp_path / "missing-but-local")}, {"result": str(tmp_path / "o")})
    with pytest.raises(StepExecutionError, match="input 'data' does not exist"):
        run_plan(plan)
    (tmp_path / "in").mkdir()
    plan = _plan(tmp_path, {"data": str(tmp_path / "in")}, {"result": str(tmp_path / "o")})
    with pytest.raises(StepExecutionError, match=r"step 's': script s.py exited with code 1"):
        run_plan(plan)  # in.txt is missing: the script raises
    assert store.read_manifest(plan["manifest"]) is None  # nothing committed


def test_entrypoint_reports_one_line_and_exit_status(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", "{not json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout.startswith("ERROR: the step plan is not JSON")
    assert done.stdout.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert main([json.dumps({"plan_version": 99})]) == 3


def test_plan_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLP_STEP_PLAN", '{"plan_version": 1}')
    assert load_plan([]) == {"plan_version": 1}
    monkeypatch.delenv("MLP_STEP_PLAN")
    with pytest.raises(StepExecutionError, match="no step plan"):
        load_plan([])
