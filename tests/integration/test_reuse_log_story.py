"""The reuse task's log tells one consistent story (issue 16, item 7), on a real Airflow (dag.test())."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
steps:
  - name: write
    script: write.py
    source_directory: src
    arguments: [{{output: out}}, "{marker}"]
    outputs: [out]
"""
SCRIPT = """\
import os, sys
out, marker = sys.argv[1], sys.argv[2]
open(os.path.join(out, "part1.txt"), "w").write("one")
if os.path.exists(marker):  # a crash halfway through (the marker lives outside the source tree)
    sys.exit(5)
open(os.path.join(out, "part2.txt"), "w").write("two")
"""


def _run(folder: Path) -> tuple[str, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test()
    return str(run.state), {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def pipeline(scratch_dags: Path, tmp_path: Path) -> tuple[Path, Path]:
    name = f"story_{scratch_dags.name}"[:60]
    marker = tmp_path / "crash-now"
    (scratch_dags / f"{name}.yaml").write_text(DEFINITION.format(name=name, marker=marker))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "write.py").write_text(SCRIPT)
    return scratch_dags, marker


def test_an_attempt_that_never_committed_is_named_as_such(
    pipeline: tuple[Path, Path], capfd: Any, airflow_home: Path
) -> None:
    folder, marker = pipeline
    marker.write_text("x")
    state, states = _run(folder)
    assert (state, states["write.run"]) == ("failed", "failed")
    out = capfd.readouterr().out
    assert "exited with code 5; it wrote nothing to stderr" in out
    marker.unlink()
    state, states = _run(folder)
    assert state == "success", states
    out = capfd.readouterr().out
    assert "left outputs at" in out
    assert "but never committed them (no manifest), so they are not used" in out
    assert "no earlier outputs" not in out


def test_outputs_that_do_not_verify_are_the_reason_given(pipeline: tuple[Path, Path], capfd: Any) -> None:
    folder, _ = pipeline
    assert _run(folder)[0] == "success"
    capfd.readouterr()
    name = f"story_{folder.name}"[:60]
    (committed,) = folder.parents[1].glob(
        f"mlpipelines/datastore/workspaceblobstore/{name}/write/*/*/out/part2.txt"
    )
    committed.unlink()
    state, states = _run(folder)
    assert (state, states["write.run"]) == ("success", "success")  # ran again
    out = capfd.readouterr().out
    assert "not reused: the stored outputs of this fingerprint do not verify: out/part2.txt is missing" in out
    assert "no earlier outputs" not in out
