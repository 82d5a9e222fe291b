"""The pure layers import neither Airflow nor pandas/pyarrow (they run in step images and in the CLI)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["airflow_mlpipelines.pipeline", "airflow_mlpipelines.runtime.script_step"]
)
def test_pure_module_imports_nothing_heavy(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'pandas', 'pyarrow'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
