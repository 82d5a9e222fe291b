"""The examples load through a real Airflow DagBag, and one broken definition only breaks its own file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.shared import ALL_EXAMPLE_DAG_IDS, BROKEN_YAML, MAINTENANCE_DAG_IDS

pytestmark = pytest.mark.integration

EXPECTED = set(ALL_EXAMPLE_DAG_IDS)


def _dagbag(folder: Path):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(folder))


def test_examples_load_without_import_errors(examples_dags: Path) -> None:
    bag = _dagbag(examples_dags)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED


def test_seed004_shape_and_edges(examples_dags: Path) -> None:
    dag = _dagbag(examples_dags).dags["seed004_yaml"]
    steps = ["baseline", "compare", "prepare", "train"]
    assert sorted(dag.task_ids) == sorted(f"{s}.{t}" for s in steps for t in ("reuse", "run"))
    assert dag.get_task("train.run").upstream_task_ids == {"train.reuse"}
    assert dag.get_task("train.reuse").upstream_task_ids == {"prepare.run"}
    assert dag.get_task("compare.reuse").upstream_task_ids == {"train.run", "baseline.run"}
    assert dag.get_task("compare.reuse").trigger_rule == "none_failed"
    assert dag.schedule is None or str(dag.schedule) == "None"


def test_fan_out_fan_in(examples_dags: Path) -> None:
    dag = _dagbag(examples_dags).dags["fan_out_in"]
    trainings = {"train_a", "train_b", "train_c"}
    assert dag.get_task("prepare.run").downstream_task_ids == {f"{t}.reuse" for t in trainings}
    assert dag.get_task("compare.reuse").upstream_task_ids == {"train_a.run", "train_b.run", "train_c.run"}


def test_parameters_become_params(examples_dags: Path) -> None:
    dag = _dagbag(examples_dags).dags["parameterised"]
    params = dag.params
    assert params["shrink"] == 0.1
    assert params.get_param("shrink").schema == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    assert params.get_param("epochs").schema == {"type": "integer"}
    assert params.get_param("run_label").schema["enum"] == ["nightly", "adhoc", "experiment"]


def test_broken_definition_breaks_only_its_own_file(examples_dags: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    shutil.copytree(examples_dags, folder)
    (folder / "definitions" / "broken.yaml").write_text(BROKEN_YAML)
    shutil.copy(folder / "seed004_yaml.py", folder / "broken.py")
    bag = _dagbag(folder)
    assert set(bag.dag_ids) == EXPECTED
    assert list(bag.import_errors) == [str(folder / "broken.py")] or list(bag.import_errors) == ["broken.py"]
    message = next(iter(bag.import_errors.values()))
    assert "broken.yaml:5" in message
    assert "step 'prepare'" in message
    assert "field 'argumentz'" in message
    assert "did you mean 'arguments'?" in message


def test_folder_loader_strict_and_lenient(examples_dags: Path, tmp_path: Path) -> None:
    from airflow_mlpipelines.dag_factory import load_pipelines
    from airflow_mlpipelines.exceptions import DefinitionError

    definitions = tmp_path / "definitions"
    shutil.copytree(examples_dags / "definitions", definitions)
    (definitions / "broken.yaml").write_text(BROKEN_YAML)
    with pytest.raises(DefinitionError, match=r"(?s)1 pipeline definition\(s\).*broken.yaml:5"):
        load_pipelines({}, str(definitions))
    namespace: dict[str, object] = {}
    dags = load_pipelines(namespace, str(definitions), strict=False)
    pipelines = EXPECTED - set(MAINTENANCE_DAG_IDS)  # the definitions, not the hand-written DAG files
    assert {d.dag_id for d in dags} == pipelines
    assert len(namespace) == len(pipelines)


def test_parse_does_no_io_on_datastores(examples_dags: Path, airflow_home: Path) -> None:
    def snapshot() -> list[Path]:
        return sorted(
            p for p in airflow_home.rglob("*") if "__pycache__" not in p.parts and "logs" not in p.parts
        )

    before = snapshot()
    _dagbag(examples_dags)
    assert snapshot() == before


def test_execute_python_script_steps_render(examples_dags: Path) -> None:
    from airflow_mlpipelines.operators.execute_python_script import ExecutePythonScriptOperator
    from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor

    dag = _dagbag(examples_dags).dags["eps_hello"]
    run, reuse = dag.get_task("hello.run"), dag.get_task("hello.reuse")
    assert isinstance(run, ExecutePythonScriptOperator)
    assert isinstance(reuse, ReuseSensor)
    # Both tasks get the one typed description of the step.
    assert run.task == reuse.task
    assert run.task.eps.ports == {"dataframe1": "raw_data", "dataframe2": None}
    assert run.task.eps.bundle.endswith("definitions/bundles/Hello.zip")
    assert run.task.script_where.endswith("eps_hello.yaml:30")
    assert run.task.output_datastores == {
        "greeted": "workspaceblobstore",
        "hello_plots": "workspaceblobstore",
    }
    assert dag.get_task("count.reuse").upstream_task_ids == {"hello.run"}
    features = _dagbag(examples_dags).dags["eps_features"]
    assert features.get_task("rank_features.reuse").upstream_task_ids == {"load_diabetes.run"}


RETRIES = """\
name: retried
defaults: {retries: 3, retry_delay_seconds: 20}
steps:
  - name: a
    script: a.py
    outputs: [x]
  - name: b
    script: b.py
    inputs: [x]
    retries: 0
  - name: c
    type: execute_python_script
    script: "def azureml_main(df=None): return df,"
    retry_delay_seconds: 2.5
    outputs: {dataframe: y}
"""


def test_step_retries_hold_for_both_tasks_and_fall_back_to_defaults(tmp_path: Path) -> None:
    import datetime

    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import load_yaml_pipeline

    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    (tmp_path / "def.yaml").write_text(RETRIES)
    dag = render_pipeline(load_yaml_pipeline(str(tmp_path / "def.yaml")))
    for task in ("reuse", "run"):
        a, b, c = (dag.get_task(f"{s}.{task}") for s in "abc")
        assert (a.retries, a.retry_delay) == (3, datetime.timedelta(seconds=20))
        assert (b.retries, b.retry_delay) == (0, datetime.timedelta(seconds=20))
        assert (c.retries, c.retry_delay) == (3, datetime.timedelta(seconds=2.5))


def test_unset_retries_keep_airflows_defaults(tmp_path: Path) -> None:
    from airflow.configuration import conf

    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import load_yaml_pipeline

    (tmp_path / "a.py").write_text("")
    (tmp_path / "def.yaml").write_text("name: plain\nsteps:\n  - {name: a, script: a.py}\n")
    task = render_pipeline(load_yaml_pipeline(str(tmp_path / "def.yaml"))).get_task("a.run")
    assert task.retries == conf.getint("core", "default_task_retries")
