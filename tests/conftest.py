"""Test-wide setup: every test process gets its own throw-away AIRFLOW_HOME before Airflow is imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "dags_examples"

# Airflow reads its configuration when first imported, so this must run at conftest import time.
_HOME = Path(tempfile.mkdtemp(prefix="mlp-airflow-home-"))
_DAGS = _HOME / "dags"
shutil.copytree(EXAMPLES, _DAGS, ignore=shutil.ignore_patterns("__pycache__"))
# Pipelines that tests write and run with dag.test() live in a second DAG bundle, so the examples'
# bundle stays exactly the examples.
_SCRATCH = _HOME / "scratch"
_SCRATCH.mkdir()
_BUNDLES = [
    {
        "name": "dags-folder",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(_DAGS)},
    },
    {
        "name": "scratch",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(_SCRATCH)},
    },
]
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(_BUNDLES),
        # Every in-process test run goes through our XCom backend (plain values included).
        "AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend",
    }
)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME (a temporary folder)."""
    return _HOME


@pytest.fixture(scope="session")
def examples_dags() -> Path:
    """A copy of dags_examples/ that is this session's Airflow dags folder."""
    return _DAGS


@pytest.fixture
def scratch_dags(request: pytest.FixtureRequest) -> Path:
    """A fresh folder inside the session's dags folder (so dag.test() can serialise its DAGs)."""
    folder = _SCRATCH / request.node.name.replace("[", "_").replace("]", "")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """Migrate the session's SQLite metadata database once (about 4 s)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return _HOME


_MUST_RUN_IN_CI = ("e2e", "integration")
_skipped_in_ci: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember e2e/integration tests that skipped: under CI=true they must run, not skip."""
    if report.skipped and any(mark in report.keywords for mark in _MUST_RUN_IN_CI):
        _skipped_in_ci.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a CI run in which a real-system test skipped; remove the temporary AIRFLOW_HOME."""
    shutil.rmtree(_HOME, ignore_errors=True)
    if os.environ.get("CI", "").lower() == "true" and _skipped_in_ci:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("CI=true but these tests were skipped:", red=True)
            for line in _skipped_in_ci:
                reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
