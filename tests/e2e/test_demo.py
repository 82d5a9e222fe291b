"""The README's first command (the main job) runs: .ci/demo.py starts Airflow, runs a pipeline, stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_main_job_runs_an_example_pipeline_to_success(tmp_path: Path) -> None:
    home = tmp_path / "airflow-home"
    out = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "demo.py"), "--exit", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert ": success in " in out.stdout
    assert "prepare.run" in out.stdout
    assert "UI:           http://127.0.0.1:" in out.stdout
    assert list((home / "mlpipelines" / "datastore").rglob("manifest.json"))
