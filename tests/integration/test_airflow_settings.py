"""Airflow settings in definitions (issue 17, item 4): ``default_args``, ``max_active_runs``, ``catchup``,
``doc_md`` and per-step overrides render exactly as a hand-written DAG sets them."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import load_definition

pytestmark = pytest.mark.integration

DEFINITION = """\
name: settings_demo
max_active_runs: 2
catchup: true
doc_md: "Retrains nightly."
default_args:
  owner: ml-team
  retries: 2
  retry_delay: 30
  retry_exponential_backoff: true
  max_retry_delay: 600
  execution_timeout: 3600
  pool: cpu_pool
  email: ops@example.com
  email_on_failure: true
  on_failure_notifiers:
    - class: airflow.providers.smtp.notifications.smtp.SmtpNotifier
      args: {to: ops@example.com, from_email: airflow@example.com}
steps:
  - name: prep
    script: s.py
    outputs: [data]
    arguments: [{output: data}]
  - name: train
    script: s.py
    inputs: [data]
    arguments: [{input: data}]
    pool: gpu
    pool_slots: 2
    execution_timeout: 7200
    owner: trainer
    retries: 5
    priority_weight: 10
"""

SETTINGS = (
    "owner", "retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay", "execution_timeout",
    "pool", "pool_slots", "priority_weight", "email", "email_on_failure", "email_on_retry", "queue",
)  # fmt: skip


def _load(tmp_path: Path, text: str = DEFINITION) -> Any:
    (tmp_path / "s.py").write_text("")
    path = tmp_path / "settings_demo.yaml"
    path.write_text(text)
    (spec,) = load_definition(str(path))
    return spec


def _hand_written() -> Any:
    """The same DAG as an Airflow user writes it by hand (EmptyOperators in place of our two tasks)."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    default_args = {
        "owner": "ml-team",
        "retries": 2,
        "retry_delay": datetime.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": datetime.timedelta(seconds=600),
        "email": ["ops@example.com"],
        "email_on_failure": True,
        "on_failure_callback": [SmtpNotifier(to="ops@example.com", from_email="airflow@example.com")],
    }
    with DAG(
        "hand_written", schedule=None, max_active_runs=2, catchup=True, default_args=default_args
    ) as dag:
        EmptyOperator(task_id="prep.reuse")
        EmptyOperator(task_id="prep.run", pool="cpu_pool", execution_timeout=datetime.timedelta(hours=1))
        EmptyOperator(task_id="train.reuse", owner="trainer", retries=5)
        EmptyOperator(
            task_id="train.run", owner="trainer", retries=5, pool="gpu", pool_slots=2,
            execution_timeout=datetime.timedelta(hours=2), priority_weight=10,
        )  # fmt: skip
    return dag


def _serialized(dag: Any) -> dict[str, dict[str, Any]]:
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)["dag"]
    tasks = {t["__var"]["task_id"]: t["__var"] for t in data["tasks"]}
    return {
        task_id: {
            **{k: task.get(k) for k in SETTINGS},
            "has_on_failure_callback": task.get("has_on_failure_callback", False),
        }
        for task_id, task in tasks.items()
    }


def test_settings_render_as_a_hand_written_dag_sets_them(tmp_path: Path) -> None:
    from airflow_mlpipelines.dag_factory.render import render_pipeline

    ours = render_pipeline(_load(tmp_path))
    theirs = _hand_written()
    assert (ours.max_active_runs, ours.catchup) == (2, True)
    assert "Retrains nightly." in str(ours.doc_md)
    assert _serialized(ours) == _serialized(theirs)
    # The reuse task is not held to the training's pool or time limit.
    assert ours.get_task("train.reuse").pool == "default_pool"
    assert ours.get_task("train.reuse").execution_timeout is None


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    text = DEFINITION.replace("  retries: 2\n", "  retries: -1\n  retires: 3\n").replace(
        "    pool_slots: 2\n", "    pool_slots: 0\n"
    )
    with pytest.raises(DefinitionError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "field 'default_args.retries'" in message
    assert "unknown key 'retires'" in message
    assert "did you mean 'retries'?" in message
    assert "step 'train', field 'pool_slots'" in message


def test_an_unknown_notifier_names_the_definition(tmp_path: Path) -> None:
    from airflow_mlpipelines.dag_factory.render import render_pipeline

    spec = _load(tmp_path, DEFINITION.replace("smtp.SmtpNotifier", "smtp.NoSuchNotifier"))
    with pytest.raises(DefinitionError, match=r"settings_demo\.yaml:5, field 'on_failure_notifiers'"):
        render_pipeline(spec)


def test_sdk_pipelines_take_the_same_settings(tmp_path: Path) -> None:
    from airflow_mlpipelines.dag_factory.render import render_pipeline
    from airflow_mlpipelines.pipeline import Pipeline, PythonScriptStep

    (tmp_path / "s.py").write_text("")
    step = PythonScriptStep("s.py", name="s", source_directory=str(tmp_path))
    pipeline = Pipeline(steps=[step], name="sdk_settings", default_args={"owner": "ds", "retries": 1},
                        max_active_runs=1)  # fmt: skip
    dag = render_pipeline(pipeline.to_spec())
    assert (dag.get_task("s.run").owner, dag.get_task("s.run").retries, dag.max_active_runs) == ("ds", 1, 1)
    with pytest.raises(DefinitionError, match=r"(?s)default_args: unknown key 'ownr'.*did you mean 'owner'"):
        Pipeline(steps=[step], name="x", default_args={"ownr": "ds"}).to_spec()
