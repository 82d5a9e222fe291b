"""The pure layers import neither Airflow nor pandas/pyarrow (they run in step processes and in the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples" / "definitions"

_REPORT_HEAVY = (
    "import sys\n"
    "heavy = sorted(\n"
    "    m for m in sys.modules\n"
    "    if m in ('airflow', 'pandas', 'pyarrow') or m.startswith(('airflow.', 'pandas.', 'pyarrow.'))\n"
    ")\n"
    "print(','.join(heavy))\n"
)


def _heavy_modules_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left in ``sys.modules``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_REPORT_HEAVY}"], capture_output=True, text=True, check=True
    )
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize(
    "module",
    [
        "airflow_mlpipelines.pipeline",
        "airflow_mlpipelines.runtime.script_step",
        "airflow_mlpipelines.runtime.step_main",
        "airflow_mlpipelines.compute.build_context",
        "airflow_mlpipelines.runtime.eps_main",
        "airflow_mlpipelines.runtime.eps_job",
        "airflow_mlpipelines.runtime.bundle",
        "airflow_mlpipelines.runtime.models",
        "airflow_mlpipelines.core",  # Run and Model in a step image
        "airflow_mlpipelines.exceptions",
    ],
)
def test_pure_module_imports_nothing_heavy(module: str) -> None:
    code = f"import sys\nimport {module}\nassert {module!r} in sys.modules"
    assert _heavy_modules_after(code) == []


@pytest.mark.parametrize(
    "definition",
    ["seed004_yaml.yaml", "seed004_sdk.py", "eps_hello.yaml", "eps_scatter.yaml", "eps_features.py"],
)
def test_loading_a_definition_imports_nothing_heavy(definition: str) -> None:
    code = (
        "import warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from airflow_mlpipelines.pipeline import load_definition\n"
        f"(spec,) = load_definition({str(EXAMPLES / definition)!r})\n"
        f"assert spec.name == {definition.split('.')[0]!r}, spec.name\n"
    )
    assert _heavy_modules_after(code) == []


def test_the_check_sees_heavy_modules() -> None:
    # Stand-ins named like pandas and an Airflow submodule (the real ones are slow to import) are
    # reported, while this provider's own package, whose name also starts with "airflow", is not.
    code = (
        "import sys, types\n"
        "import airflow_mlpipelines\n"
        "sys.modules['pandas'] = types.ModuleType('pandas')\n"
        "sys.modules['airflow.sdk'] = types.ModuleType('airflow.sdk')\n"
    )
    assert _heavy_modules_after(code) == ["airflow.sdk", "pandas"]
