"""The ``command`` step kind as a container runs it (the runtime entrypoint's ``run_plan``): the words
substituted and run from the source directory without a shell, ``python`` as the step's interpreter, and
failures reported like a script's (exit status, stderr tail, nothing committed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import ScriptFailedError, StepExecutionError
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime.plan import Origin, StepPlan
from airflow_mlpipelines.runtime.step_main import run_plan

FP = Fingerprint({"step": "c" * 64, "arguments": "d" * 64}, {})


def _plan(tmp_path: Path, arguments: list[list[Any]]) -> dict[str, Any]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "copy.py").write_text(
        "import os, sys\nsrc, out, n = sys.argv[1:]\n"
        "open(os.path.join(out, 'out.txt'), 'w').write(open(src).read() * int(n) + ' ' + sys.executable)\n"
    )
    (tmp_path / "in.txt").write_text("ab")
    task = StepTask(
        pipeline="p",
        step="s",
        kind="command",
        script_name="",
        source_directory=str(src),
        target=ComputeTargetSpec("box", kind="docker", image="x:1"),
        inputs=(InputBinding("data", path=str(tmp_path / "in.txt")),),
        outputs=(OutputBinding("result", "workspaceblobstore"),),
    )
    plan = StepPlan(
        task=task,
        decision="run",
        dag_id="p",
        run_id="r1",
        fingerprint=FP,
        manifest=str(tmp_path / "manifests" / FP.short),
        produced_by=Origin("p", "r1", "s.run"),
        inputs={"data": str(tmp_path / "in.txt")},
        outputs={"result": str(tmp_path / "out")},
        parameters={"n": 3},
        arguments=arguments,
        source_directory=str(src),
    )
    return plan.to_json()


def test_command_runs_with_paths_and_parameters_substituted(tmp_path: Path) -> None:
    words = [["python"], ["copy.py"], [{"input": "data"}], [{"output": "result"}], [{"parameter": "n"}]]
    manifest = run_plan(_plan(tmp_path, words), python=sys.executable)
    text = (tmp_path / "out" / "out.txt").read_text()
    assert text == f"ababab {sys.executable}"  # `python` is the step's interpreter
    assert [f["path"] for f in manifest["outputs"]["result"]["files"]] == ["out.txt"]


def test_failing_command_reports_its_exit_status_and_commits_nothing(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [["sh"], ["-c"], ["echo boom >&2; exit 7"]])
    with pytest.raises(ScriptFailedError) as info:
        run_plan(plan)
    assert info.value.exit_code == 7
    assert "step 's': command sh exited with code 7" in str(info.value)
    assert "boom" in str(info.value)
    assert store.read_manifest(plan["manifest"]) is None


def test_a_program_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [["no-such-program-mlp"], ["x"]])
    with pytest.raises(
        StepExecutionError, match=r"cannot start 'no-such-program-mlp'.*is it installed in the image"
    ):
        run_plan(plan)


def test_empty_command_is_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path, [[""]])
    with pytest.raises(StepExecutionError, match="the command is empty"):
        run_plan(plan)
