"""Parse-time and constructor discipline (issue 11, item 8): rendering a pipeline reads no ``[mlpipelines]``
setting, no process uid and no datastore; operators assign their template fields exactly as passed."""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
from pathlib import Path

import pytest

from airflow_mlpipelines import settings

DEFINITION = """\
name: discipline
compute_targets:
  box: {kind: docker, image: "x:1", gpu_count: 1}
  pods: {kind: kubernetes, image: "x:1", gpu_count: 2}
datastores:
  local: {url: data}
  remote: {url: "s3://some_conn@bucket/prefix"}
steps:
  - {name: a, script: a.py, compute: box, outputs: [{name: o1, datastore: local}], arguments: [{output: o1}]}
  - {name: b, script: b.py, compute: pods, inputs: [o1], arguments: [{input: o1}, {output: o2}],
     outputs: [{name: o2, datastore: remote}]}
  - {name: c, type: execute_python_script, dataframe1: o2,
     script: "def azureml_main(df):\\n    return df,\\n"}
"""


def test_rendering_reads_no_settings_no_uid_and_no_datastore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import load_definition

    path = tmp_path / "discipline.yaml"
    path.write_text(DEFINITION)
    (spec,) = load_definition(str(path))

    # Third-party modules may stat files while they are first imported (google-auth, which the
    # kubernetes client imports, looks for a client certificate): import them before the check, which is
    # about what *rendering* reads.
    import kubernetes.client.models  # noqa: F401

    def forbidden(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("read while the DAG file is parsed")

    for name in dir(settings):
        if callable(getattr(settings, name)) and hasattr(getattr(settings, name), "cache_clear"):
            monkeypatch.setattr(settings, name, forbidden)
    monkeypatch.setattr(os, "getuid", forbidden)
    monkeypatch.setattr(os, "getgid", forbidden)
    monkeypatch.setattr(os, "stat", forbidden)
    monkeypatch.setattr(os, "makedirs", forbidden)
    dag = render_pipeline(spec)
    assert sorted(dag.task_ids) == ["a.reuse", "a.run", "b.reuse", "b.run", "c.reuse", "c.run"]


def _operator_classes() -> list[type]:
    from airflow_mlpipelines.operators.execute_python_script import ExecutePythonScriptOperator
    from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator
    from airflow_mlpipelines.operators.reuse_sensor import ReuseSensor
    from airflow_mlpipelines.operators.step_operator import StepOperator

    return [StepOperator, PythonScriptStepOperator, ExecutePythonScriptOperator, ReuseSensor]


@pytest.mark.parametrize("cls", _operator_classes(), ids=lambda c: c.__name__)
def test_template_fields_are_assigned_as_passed(cls: type) -> None:
    """Airflow's validate_operators_init rule: ``self.<field> = <field>``, the parameter of that name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    assigned = {
        target.attr: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    }
    own = [f for f in cls.template_fields if f in assigned or f in inspect.signature(cls.__init__).parameters]
    assert own, cls.template_fields
    for field in own:
        value = assigned.get(field)
        if value is None:
            continue  # assigned by a base class's __init__ (checked there)
        where = f"{cls.__name__}.{field} = {ast.unparse(value)}"
        assert isinstance(value, ast.Name), where
        assert value.id == field, where
