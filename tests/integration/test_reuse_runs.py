"""Step reuse on a real Airflow (dag.test()): what re-runs, what is reused, and why the log says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
parameters:
  lr: 0.1
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.txt}}
steps:
  - name: a
    script: a.py
    source_directory: src_a
    arguments: [{{input: raw}}, {{output: out_a}}]
    outputs: [out_a]
  - name: b
    script: step.py
    source_directory: src
    arguments: [{{input: out_a}}, {{output: out_b}}, "${{{{parameters.lr}}}}"]
    outputs: [out_b]
  - name: c
    script: step.py
    source_directory: src
    arguments: [{{input: out_b}}, {{output: out_c}}, "c"]
    outputs: [out_c]
  - name: d
    script: step.py
    source_directory: src
    arguments: [{{input: raw}}, {{output: out_d}}, "d"]
    outputs: [out_d]
    allow_reuse: false
"""

STEP = """\
import os, sys
src, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src if os.path.isfile(src) else os.path.join(src, "data.txt")).read()
open(os.path.join(out, "data.txt"), "w").write(data + tag)
with open(os.path.join(os.path.dirname(__file__), "..", "calls.log"), "a") as fh:
    fh.write(os.path.basename(os.path.dirname(out.rstrip("/"))) + "\\n")
"""


@pytest.fixture
def pipeline(scratch_dags: Path) -> Path:
    name = _dag_id(scratch_dags)
    (scratch_dags / f"{name}.yaml").write_text(DEFINITION.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    for folder in ("src", "src_a"):
        (scratch_dags / folder).mkdir()
    (scratch_dags / "src" / "step.py").write_text(STEP)
    (scratch_dags / "src_a" / "a.py").write_text(STEP.replace("sys.argv[3]", "'a'"))
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "raw.txt").write_text("raw:")
    return scratch_dags


def _dag_id(folder: Path) -> str:
    return f"reuse_{folder.name}"[:60]


def _run(folder: Path, conf: dict[str, Any] | None = None) -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    return states


def _ran(states: dict[str, str]) -> set[str]:
    return {
        task.split(".")[0] for task, state in states.items() if task.endswith(".run") and state == "success"
    }


def _calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_identical_rerun_reuses_everything_but_allow_reuse_false(pipeline: Path) -> None:
    assert _ran(_run(pipeline)) == {"a", "b", "c", "d"}
    assert len(_calls(pipeline)) == 4
    states = _run(pipeline)
    assert _ran(states) == {"d"}
    assert {t: s for t, s in states.items() if t.endswith(".run") and t != "d.run"} == {
        "a.run": "skipped",
        "b.run": "skipped",
        "c.run": "skipped",
    }
    assert all(states[f"{s}.reuse"] == "success" for s in "abcd")
    assert len(_calls(pipeline)) == 1  # only d's process started


def test_changed_script_reruns_it_and_downstream_only(pipeline: Path) -> None:
    _run(pipeline)
    (pipeline / "src" / "step.py").write_text(STEP.replace("data + tag", "data + tag + '!'"))
    assert _ran(_run(pipeline)) == {"b", "c", "d"}


def test_rerun_with_identical_output_keeps_downstream_reused(pipeline: Path) -> None:
    _run(pipeline)
    (pipeline / "src_a" / "a.py").write_text(STEP.replace("sys.argv[3]", "'a'") + "# comment only\n")
    assert _ran(_run(pipeline)) == {"a", "d"}


def test_changed_input_file_reruns_consumers(pipeline: Path) -> None:
    _run(pipeline)
    (pipeline / "data" / "raw.txt").write_text("raw2:")
    assert _ran(_run(pipeline)) == {"a", "b", "c", "d"}


def test_parameter_change_and_controls(pipeline: Path) -> None:
    _run(pipeline)
    assert _ran(_run(pipeline, {"lr": 0.5})) == {"b", "c", "d"}
    assert _ran(_run(pipeline, {"lr": 0.5})) == {"d"}
    assert _ran(_run(pipeline, {"lr": 0.5, "force_rerun": ["c"]})) == {"c", "d"}
    assert _ran(_run(pipeline, {"lr": 0.5, "regenerate_outputs": True})) == {"a", "b", "c", "d"}


def test_reused_outputs_are_what_consumers_read(pipeline: Path, airflow_home: Path) -> None:
    _run(pipeline)
    _run(pipeline, {"lr": 0.7})
    outputs = sorted(
        (airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(
            f"{_dag_id(pipeline)}/c/*/*/out_c/data.txt"
        )
    )
    contents = sorted(p.read_text() for p in outputs)
    assert contents == ["raw:a0.1c", "raw:a0.7c"]


def test_missing_output_file_is_a_miss_not_a_hit(pipeline: Path, airflow_home: Path) -> None:
    _run(pipeline)
    manifests = list(
        (airflow_home / "mlpipelines" / "datastore" / "_manifests").glob(
            f"{_dag_id(pipeline)}/b/*/manifest.json"
        )
    )
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    Path(manifest["outputs"]["out_b"]["url"], "data.txt").unlink()
    assert _ran(_run(pipeline)) == {"b", "d"}
