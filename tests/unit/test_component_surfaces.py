"""What each Airflow component needs of the package imports and works in a fresh interpreter (issue 12,
item 7; docs/architecture.md "What runs where"): the API server's plugin, the scheduler's and DAG
processor's factory, the triggerer's trigger, the workers' operators and XCom backend, and a step image's
runtime with Airflow absent altogether."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples" / "definitions"

SURFACES = {
    "api-server": """
        from airflow_mlpipelines.plugins.ui import MLPipelinesPlugin
        from airflow_mlpipelines.plugins.outputs_app import create_app
        assert MLPipelinesPlugin.fastapi_apps[0]["url_prefix"] == "/mlpipelines"
        routes = {getattr(r, "path", "") for r in create_app().routes}
        assert "/dags/{dag_id}/runs/{run_id}/steps/{step}" in routes, routes
    """,
    "scheduler and dag-processor": f"""
        from airflow_mlpipelines.dag_factory import load_pipeline
        from airflow_mlpipelines.provider_info import get_provider_info
        namespace = {{}}
        (dag,) = load_pipeline(namespace, {str(EXAMPLES / "seed004_yaml.yaml")!r})
        assert dag.dag_id == "seed004_yaml" and len(dag.tasks) == 8
        assert get_provider_info()["package-name"] == "airflow-mlpipelines"
    """,
    "triggerer": """
        from airflow_mlpipelines.triggers.lease import LeaseTrigger
        path, kwargs = LeaseTrigger(lease_url="/tmp/x", fingerprint="f", step="s", poke_seconds=1,
                                    timeout_seconds=5).serialize()
        assert path == "airflow_mlpipelines.triggers.lease.LeaseTrigger"
        assert LeaseTrigger(**kwargs).check()[0] == {"status": "free", "holder": None}
        import tempfile
        from airflow_mlpipelines.triggers.datastore_watch import DatastoreWatchTrigger
        path, kwargs = DatastoreWatchTrigger(pipeline="p", datastore="d", datastore_url=None,
                                             path_on_datastore="in", polling_seconds=1).serialize()
        assert path == "airflow_mlpipelines.triggers.datastore_watch.DatastoreWatchTrigger"
        root = tempfile.mkdtemp()
        assert DatastoreWatchTrigger(**kwargs).open_watch(root=root).look() == []
    """,
    "workers": """
        from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator
        from airflow_mlpipelines.operators.execute_python_script import ExecutePythonScriptOperator
        from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
        from airflow_mlpipelines.xcom.backend import DataFrameXComBackend
        assert DataFrameXComBackend.deserialize_value(type("R", (), {"value": 1})()) == 1
    """,
}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("component", sorted(SURFACES))
def test_component_surface_imports_and_works(component: str) -> None:
    done = _run(SURFACES[component])
    assert done.returncode == 0, done.stderr[-3000:]


def test_step_image_runtime_works_without_airflow(tmp_path: Path) -> None:
    """In a container there is no Airflow: block it and run a real plan through the entrypoint."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s.py").write_text(
        "import sys, os\nopen(os.path.join(sys.argv[1], 'o.txt'), 'w').write('x')\n"
    )
    code = f"""
        import importlib.abc, json, sys
        class NoAirflow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "airflow" or name.startswith("airflow."):
                    raise ImportError(f"{{name}} is not installed in this image")
        sys.meta_path.insert(0, NoAirflow())
        from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
        from airflow_mlpipelines.pipeline.step_task import OutputBinding, StepTask
        from airflow_mlpipelines.reuse.fingerprint import Fingerprint
        from airflow_mlpipelines.runtime.plan import Origin, StepPlan
        from airflow_mlpipelines.runtime.step_main import main
        task = StepTask(pipeline="p", step="s", kind="python_script", script_name="s.py",
                        source_directory={str(tmp_path / "src")!r},
                        target=ComputeTargetSpec("box", kind="docker", image="x:1"),
                        outputs=(OutputBinding("out", "workspaceblobstore"),))
        plan = StepPlan(task=task, decision="run", dag_id="p", run_id="r",
                        fingerprint=Fingerprint({{"a": "b"}}),
                        manifest={str(tmp_path / "m")!r}, produced_by=Origin("p", "r", "s.run"),
                        outputs={{"out": {str(tmp_path / "out")!r}}}, arguments=[[{{"output": "out"}}]],
                        source_directory={str(tmp_path / "src")!r})
        assert main([json.dumps(plan.to_json())]) == 0
        heavy = ("airflow.", "pandas", "pyarrow")
        loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith(heavy))
        assert loaded == [], loaded
    """
    done = _run(code)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (tmp_path / "out" / "o.txt").read_text() == "x"
    assert (tmp_path / "m" / "manifest.json").is_file()
