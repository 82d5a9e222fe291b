"""A full datastore disk during a step (issue 16, item 5): a clear error naming the disk, nothing committed,
and the step runs (and commits) once there is room again. The datastore is a 2 MiB tmpfs mounted for the
test, on a real Airflow (dag.test())."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
datastores:
  tiny: {{url: "{tiny}"}}
steps:
  - name: big
    script: big.py
    source_directory: src
    arguments: [{{output: out}}, "{megabytes}"]
    outputs: [{{name: out, datastore: tiny}}]
  - name: frame
    type: execute_python_script
    outputs: {{dataframe: table}}
    run_after: [big]
    script: |
      import pandas as pd
      def azureml_main():
          return pd.DataFrame({{"s": ["x" * 1000] * {rows}}}),
"""
SCRIPT = """\
import os, sys
with open(os.path.join(sys.argv[1], "blob.bin"), "wb") as fh:
    fh.write(os.urandom(int(float(sys.argv[2]) * 1024 * 1024)))
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    assert done.returncode == 0, f"cannot mount a tmpfs for the test: {done.stderr.decode()}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _run(folder: Path) -> tuple[str, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test()
    return str(run.state), {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_a_full_disk_is_one_clear_error_and_nothing_is_committed(
    scratch_dags: Path, tiny: Path, airflow_home: Path, capfd: Any
) -> None:
    name = f"disk_{scratch_dags.name}"[:60]
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "big.py").write_text(SCRIPT)
    definition = scratch_dags / f"{name}.yaml"
    definition.write_text(DEFINITION.format(name=name, tiny=tiny, megabytes=8, rows=10))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))

    state, states = _run(scratch_dags)
    assert (state, states["big.run"]) == ("failed", "failed")
    out = capfd.readouterr().out
    assert "No space left on device" in out
    assert "script big.py exited with code 1" in out
    manifests = airflow_home / "mlpipelines" / "datastore" / "_manifests" / name
    assert not list(manifests.rglob("manifest.json"))  # nothing committed

    # Room again: the failed attempt's uncommitted folder is deleted (as an operator freeing the disk
    # would) and a smaller blob fits; the step runs and commits, and so does the step after it.
    shutil.rmtree(tiny / name)
    definition.write_text(DEFINITION.format(name=name, tiny=tiny, megabytes=0.5, rows=10))
    state, states = _run(scratch_dags)
    assert state == "success", states
    assert len(list(manifests.rglob("manifest.json"))) == 2


EPS_DEFINITION = """\
name: {name}
datastores:
  workspaceblobstore: {{url: "{tiny}"}}
steps:
  - name: frame
    type: execute_python_script
    script: |
      import os
      import pandas as pd
      def azureml_main():
          return pd.DataFrame({{"s": [os.urandom(512).hex() for _ in range(5000)]}}),
"""


def test_an_execute_python_script_frame_on_a_full_disk_names_the_output(
    scratch_dags: Path, tiny: Path, capfd: Any
) -> None:
    name = f"diskeps_{scratch_dags.name}"[:60]
    (scratch_dags / f"{name}.yaml").write_text(EPS_DEFINITION.format(name=name, tiny=tiny))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    state, states = _run(scratch_dags)
    assert (state, states["frame.run"]) == ("failed", "failed"), states
    out = capfd.readouterr().out
    assert "cannot write the output DataFrame to" in out
    assert "No space left on device" in out
