"""The DAG processor's parent imports the DAG factory when it loads plugins, so its forks inherit it."""

from __future__ import annotations

import subprocess
import sys

_FACTORY_LOADED = "print('airflow_mlpipelines.dag_factory' in sys.modules)"


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\n{_FACTORY_LOADED}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_dag_processor_job_imports_the_factory() -> None:
    # What `airflow dag-processor` does before it forks: import the manager, then create its Job(),
    # whose __init__ loads the plugins (listener plugins) -- and with them ours.
    code = "import airflow.dag_processing.manager\nfrom airflow.jobs.job import Job\nJob()"
    assert _run(code) == "True"


def test_other_components_do_not() -> None:
    # The scheduler, the API server and every task process load plugins too: no factory for them.
    assert _run("from airflow import plugins_manager\nplugins_manager.ensure_plugins_loaded()") == "False"
