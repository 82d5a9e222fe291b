"""CommandStep (Azure ML SDK v1) on a real Airflow (dag.test()): a command line instead of a script,
from a YAML or a Python definition, with the same outputs and reuse; on Kubernetes, the pod we would send
runs the same runtime entrypoint with the command in its plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
name: {name}
parameters:
  suffix: "!"
datastores:
  local: {{url: data}}
datasets:
  raw: {{datastore: local, path: raw.txt}}
steps:
  - name: prep
    type: command
    source_directory: src
    command: "python prep.py --in ${{{{inputs.raw}}}} --out ${{{{ outputs.prepared }}}} --tag '{tag}'"
    outputs: [prepared]
  - name: shout
    type: command
    source_directory: src
    command:
      - sh
      - shout.sh
      - {{input: prepared}}
      - {{output: loud}}
      - "${{{{parameters.suffix}}}}"
    outputs: [loud]
"""

PREP = """\
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--in", dest="src")
p.add_argument("--out")
p.add_argument("--tag")
a = p.parse_args()
open(os.path.join(a.out, "data.txt"), "w").write(open(a.src).read() + a.tag)
with open(os.path.join("..", "calls.log"), "a") as fh:
    fh.write("prep\\n")
"""

SHOUT = """\
set -e
tr a-z A-Z < "$1/data.txt" > "$2/data.txt"
printf '%s' "$3" >> "$2/data.txt"
echo shout >> ../calls.log
"""


def _write(folder: Path, name: str, tag: str = "one two") -> None:
    (folder / f"{name}.yaml").write_text(DEFINITION.format(name=name, tag=tag))


@pytest.fixture
def pipeline(scratch_dags: Path) -> tuple[Path, str]:
    name = f"cmd_{scratch_dags.name}"[:60]
    _write(scratch_dags, name)
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "prep.py").write_text(PREP)
    (scratch_dags / "src" / "shout.sh").write_text(SHOUT)
    (scratch_dags / "data").mkdir()
    (scratch_dags / "data" / "raw.txt").write_text("raw:")
    return scratch_dags, name


def _run(folder: Path, conf: dict[str, Any] | None = None, *, expect: str = "success") -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == expect, states
    return states


def _ran(states: dict[str, str]) -> set[str]:
    return {t.split(".")[0] for t, s in states.items() if t.endswith(".run") and s == "success"}


def _calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def _outputs(home: Path, name: str, step: str, output: str) -> list[str]:
    found = (home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(
        f"{name}/{step}/*/*/{output}/data.txt"
    )
    return sorted(p.read_text() for p in found)


def test_yaml_command_steps_run_reuse_and_rerun_on_a_changed_command(
    pipeline: tuple[Path, str], airflow_home: Path
) -> None:
    folder, name = pipeline
    assert _ran(_run(folder)) == {"prep", "shout"}
    assert _calls(folder) == ["prep", "shout"]
    # The quoted word stayed one word; the parameter and the paths were substituted.
    assert _outputs(airflow_home, name, "shout", "loud") == ["RAW:ONE TWO!"]

    states = _run(folder)
    assert _ran(states) == set()
    assert (states["prep.run"], states["shout.run"]) == ("skipped", "skipped")
    assert _calls(folder) == []

    _write(folder, name, tag="three")  # the command's text changed: the step and its consumer re-run
    assert _ran(_run(folder)) == {"prep", "shout"}
    assert _calls(folder) == ["prep", "shout"]
    assert _outputs(airflow_home, name, "shout", "loud") == ["RAW:ONE TWO!", "RAW:THREE!"]

    assert _ran(_run(folder, {"suffix": "?"})) == {"shout"}  # a parameter in the command: only its step

    (folder / "src" / "shout.sh").write_text(SHOUT + "# changed\n")  # the source tree is hashed
    assert _ran(_run(folder, {"suffix": "?"})) == {"prep", "shout"}  # both steps run from src/


def test_failing_command_fails_the_step_with_its_exit_status(pipeline: tuple[Path, str]) -> None:
    folder, _ = pipeline
    (folder / "src" / "shout.sh").write_text("echo broken >&2\nexit 3\n")
    states = _run(folder, expect="failed")
    assert (states["prep.run"], states["shout.run"]) == ("success", "failed")


SDK_DEFINITION = """\
from airflow_mlpipelines.pipeline import (
    CommandStep, Dataset, Datastore, Pipeline, PipelineData, PipelineParameter, Workspace,
)

ws = Workspace.from_config()
store = Datastore(ws, "local", url="data")
raw = Dataset.File.from_files([(store, "raw.txt")]).as_named_input("raw")
prepared = PipelineData("prepared")
loud = PipelineData("loud")
suffix = PipelineParameter("suffix", default_value="!")

prep = CommandStep(
    command=["python prep.py --in", raw, "--out", prepared, "--tag", "sdk"],
    source_directory="src",
    outputs=[prepared],
)
shout = CommandStep(
    name="shout",
    command=["sh", "shout.sh", prepared.as_input(), loud, suffix],
    source_directory="src",
    outputs=[loud],
)
pipeline = Pipeline(ws, [shout], name="{name}")
"""


def test_python_definition_with_command_steps(scratch_dags: Path, airflow_home: Path) -> None:
    name = f"cmdsdk_{scratch_dags.name}"[:60]
    definitions = scratch_dags / "definitions"
    definitions.mkdir()
    (definitions / f"{name}.py").write_text(SDK_DEFINITION.format(name=name))
    (scratch_dags / ".airflowignore").write_text("definitions/\n")
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))
    src = definitions / "src"
    src.mkdir()
    (src / "prep.py").write_text(PREP)
    (src / "shout.sh").write_text(SHOUT)
    (definitions / "data").mkdir()
    (definitions / "data" / "raw.txt").write_text("raw:")
    # The unnamed step is named after its command's first word, as in SDK v1.
    assert _ran(_run(scratch_dags)) == {"python", "shout"}
    assert _outputs(airflow_home, name, "shout", "loud") == ["RAW:SDK!"]
    assert _ran(_run(scratch_dags)) == set()


K8S_DEFINITION = """\
name: {name}
compute_targets:
  cluster:
    kind: kubernetes
    image: registry.example/tools:1
    source_path: /opt/steps/src
steps:
  - name: make
    type: command
    source_directory: src
    command: [sh, -c, 'echo made > "$0/data.txt"', {{output: made}}]
    outputs: [made]
  - name: convert
    type: command
    source_directory: src
    compute: cluster
    command: "sh shout.sh ${{{{inputs.made}}}} ${{{{outputs.loud}}}} ."
    outputs: [loud]
  - name: report
    type: command
    source_directory: src
    command: "cp ${{{{inputs.loud}}}}/data.txt ${{{{outputs.report}}}}/data.txt"
    outputs: [report]
"""


def _plan(dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key="mlp_plan")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def test_kubernetes_command_step_pod_runs_the_entrypoint_with_the_command(
    scratch_dags: Path, airflow_home: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    name = f"cmdk8s_{scratch_dags.name}"[:60]
    (scratch_dags / f"{name}.yaml").write_text(K8S_DEFINITION.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "shout.sh").write_text(SHOUT.replace("echo shout >> ../calls.log\n", ""))
    bag = DagBag(str(scratch_dags))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    task = dag.get_task("convert.run")
    assert type(task) is KubernetesPodOperator

    first = dag.test()
    states = {ti.task_id: str(ti.state) for ti in first.get_task_instances()}
    assert (states["make.run"], states["convert.reuse"], states["convert.run"]) == (
        "success",
        "success",
        "failed",  # no cluster
    )
    plan = _plan(dag.dag_id, first.run_id, "convert.reuse")
    assert plan["task"]["kind"] == "command"
    assert plan["task"]["script_name"] == ""
    assert plan["arguments"] == [["sh"], ["shout.sh"], [{"input": "made"}], [{"output": "loud"}], ["."]]
    assert plan["source_directory"] == "/opt/steps/src"

    ti = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task.task_id,
        run_id=first.run_id,
        try_number=1,
        map_index=-1,
        xcom_pull=lambda task_ids, key: plan if (task_ids, key) == ("convert.reuse", "mlp_plan") else None,
    )
    context: Any = {"ti": ti, "run_id": first.run_id, "dag": dag, "task": task}
    task.render_template_fields(context)
    pod = task.build_pod_request_obj(context, dry_run=True)
    (container,) = pod.spec.containers
    assert container.image == "registry.example/tools:1"
    assert container.command == ["python3", "-m", "airflow_mlpipelines.runtime.step_main"]
    assert [json.loads(arg) for arg in container.args] == [plan]

    # Play the pod: the runtime entrypoint with that plan runs the command and commits its outputs.
    local_plan = {**plan, "source_directory": str(scratch_dags / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", json.dumps(local_plan)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Running step convert: sh shout.sh" in done.stdout

    second = dag.test()
    states = {ti.task_id: str(ti.state) for ti in second.get_task_instances()}
    assert str(second.state) == "success", states
    assert (states["make.run"], states["convert.run"], states["report.run"]) == (
        "skipped",
        "skipped",
        "success",
    )
    assert _outputs(airflow_home, name, "report", "report") == ["MADE\n."]


def test_docker_command_step_runs_the_runtime_entrypoint(scratch_dags: Path) -> None:
    """Without a daemon here: the container task is the official DockerOperator running the runtime
    entrypoint, the same for every step kind (the entrypoint runs the command, as the pod test shows)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.docker.operators.docker import DockerOperator

    from airflow_mlpipelines.compute.base import runtime_command

    name = f"cmddocker_{scratch_dags.name}"[:60]
    definition = K8S_DEFINITION.replace("kind: kubernetes", "kind: docker").replace(
        "    source_path: /opt/steps/src\n", ""
    )
    (scratch_dags / f"{name}.yaml").write_text(definition.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    bag = DagBag(str(scratch_dags))
    assert bag.import_errors == {}
    task = bag.dags[name].get_task("convert.run")
    assert type(task) is DockerOperator
    assert task.image == "registry.example/tools:1"
    assert task.command == runtime_command("convert")
