"""kill -9 while a step writes its outputs never leaves something that can be reused (repeated 20 times)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_mlpipelines.reuse import store

pytestmark = pytest.mark.integration

REPEATS = 20

SCRIPT = """\
import os, sys
out = sys.argv[1]
for i in range(40):
    with open(os.path.join(out, f"part{i}.bin"), "wb") as fh:
        fh.write(os.urandom(256 * 1024))
"""

# Runs the real compute operator in a child process (the role of an Airflow worker), so the test can
# SIGKILL the worker and its script together at an arbitrary moment.
RUNNER = textwrap.dedent(
    """
    import json, sys
    from airflow.sdk import DAG
    from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator

    class TI:
        dag_id = "killtest"
        def xcom_pull(self, task_ids, key="return_value"):
            return None
        def xcom_push(self, key, value):
            pass

    with DAG("killtest", schedule=None):
        op = PythonScriptStepOperator(
            task_id="write", script_name="write.py", source_directory=sys.argv[1],
            arguments=[[{"output": "out"}]], outputs=["out"],
        )
    urls = op.execute({"params": {}, "run_id": sys.argv[2], "ti": TI(), "dag_run": None})
    print(json.dumps(urls))
    """
)


def _manifests(home: Path) -> list[Path]:
    return sorted(
        (home / "mlpipelines" / "datastore" / "_manifests" / "killtest").glob("write/*/manifest.json")
    )


def test_kill_9_never_leaves_a_reusable_partial_output(tmp_path: Path, airflow_home: Path) -> None:
    (tmp_path / "write.py").write_text(SCRIPT)
    rng = random.Random(1234)
    killed = 0
    for attempt in range(REPEATS):
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(tmp_path), f"attempt{attempt}"],
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
        # Whatever the moment of the kill, every committed manifest must describe complete outputs.
        for manifest_path in _manifests(airflow_home):
            manifest = json.loads(manifest_path.read_text())
            assert store.verify(manifest, full=True) == [], f"attempt {attempt}: {manifest_path}"
            assert len(manifest["outputs"]["out"]["files"]) == 40
    assert killed >= REPEATS // 2, "the kills should mostly land while the step is writing"
    # A complete run afterwards commits a manifest that verifies.
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tmp_path), "final"], capture_output=True, text=True, check=True
    )
    url = json.loads(done.stdout.strip().splitlines()[-1])["out"]
    (manifest_path,) = _manifests(airflow_home)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["outputs"]["out"]["url"] == url
    assert store.verify(manifest, full=True) == []
