"""ParallelRunStep (Azure ML SDK v1) on a real Airflow (dag.test()): mini-batches as mapped tasks, rows
appended in partition order, the whole step reused, one changed file recomputes one mini-batch only,
failures counted against error_threshold, tabular inputs as DataFrames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

DEFINITION = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, PipelineData, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
store = Datastore(ws, "local", url="data")
texts = Dataset.File.from_files([(store, "texts")]).as_named_input("texts")
scores = PipelineData("scores")
config = ParallelRunConfig(
    entry_script="score.py",
    source_directory="src",
    mini_batch_size="{size}",
    error_threshold={threshold},
    output_action="append_row",
    compute_target="cpu-cluster",
    node_count=2,
    process_count_per_node=1,
    run_invocation_timeout=30,
    run_max_try=1,{extra}
)
step = ParallelRunStep(name="score", parallel_run_config=config, inputs=[texts], output=scores)
pipeline = Pipeline(ws, [step], name="{name}")
"""

SCORE = """\
import os
from airflow_mlpipelines.core import EntryScript

def init():
    global logger
    logger = EntryScript().logger
    logger.info("init of the scorer")

def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    with open(os.path.join(os.path.dirname(__file__), "..", "calls.log"), "a") as fh:
        fh.write(",".join(names) + "\\n")
    if any(open(p).read().startswith("boom") for p in mini_batch):
        raise ValueError("cannot score " + ",".join(names))
    logger.info("scored %d files", len(mini_batch))
    # A file starting with "skip" gets no row: SDK v1 counts each missing row as a failed item.
    return [
        name + " " + open(p).read().strip().upper()
        for name, p in zip(names, mini_batch)
        if not open(p).read().startswith("skip")
    ]
"""


def _write(folder: Path, name: str, *, size: str = "3", threshold: int = -1, extra: str = "") -> None:
    (folder / "definitions" / f"{name}.py").write_text(
        DEFINITION.format(name=name, size=size, threshold=threshold, extra=extra)
    )


@pytest.fixture
def pipeline(scratch_dags: Path) -> tuple[Path, str]:
    name = f"prs_{scratch_dags.name}"[:60]
    definitions = scratch_dags / "definitions"
    definitions.mkdir()
    _write(scratch_dags, name)
    (scratch_dags / ".airflowignore").write_text("definitions/\n")
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))
    (definitions / "src").mkdir()
    (definitions / "src" / "score.py").write_text(SCORE)
    texts = definitions / "data" / "texts"
    texts.mkdir(parents=True)
    for i in range(10):
        (texts / f"t{i:02d}.txt").write_text(f"text {i}")
    return scratch_dags, name


def _run(
    folder: Path, *, expect: str = "success", conf: dict[str, Any] | None = None
) -> tuple[dict[str, str], Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    run = dag.test(run_conf=conf)
    states: dict[str, str] = {}
    for ti in run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state)
    assert run.state == expect, states
    return states, run


def _calls(folder: Path) -> list[str]:
    log = folder / "definitions" / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def _rows(home: Path, name: str) -> list[list[str]]:
    found = sorted(
        (home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(
            f"{name}/score/*/*/scores/parallel_run_step.txt"
        ),
        key=lambda p: p.stat().st_mtime,
    )
    return [p.read_text().splitlines() for p in found]


def test_file_dataset_mini_batches_are_mapped_reused_and_recomputed_one_by_one(
    pipeline: tuple[Path, str], airflow_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.utils.session import create_session

    from airflow_mlpipelines.plugins.step_outputs import published_steps

    folder, name = pipeline
    states, run = _run(folder)
    # 10 files, 3 per mini-batch: 4 mapped instances, then the gather task.
    assert sorted(k for k in states if k.startswith("score.batch")) == [f"score.batch[{i}]" for i in range(4)]
    assert states["score.run"] == "success"
    assert sorted(_calls(folder)) == [
        "t00.txt,t01.txt,t02.txt",
        "t03.txt,t04.txt,t05.txt",
        "t06.txt,t07.txt,t08.txt",
        "t09.txt",
    ]
    expected = [f"t{i:02d}.txt TEXT {i}" for i in range(10)]
    assert _rows(airflow_home, name) == [expected]  # partition order, one row per file
    with create_session() as session:  # published like any step: what the UI and consumers read
        (published,) = published_steps(session, name, run.run_id, "score")
    assert (Path(published.outputs["scores"]) / "parallel_run_step.txt").read_text().splitlines() == expected
    out = capfd.readouterr()
    assert "init of the scorer" in out.out + out.err  # EntryScript().logger lines are in the task log
    assert "scored 3 files" in out.out + out.err

    states, _ = _run(folder)  # unchanged: the whole step is reused, nothing else starts
    assert states["score.reuse"] == "success"
    assert states["score.partition"] == "skipped"
    assert states["score.run"] == "skipped"
    assert _calls(folder) == []

    (folder / "definitions" / "data" / "texts" / "t04.txt").write_text("text four")
    states, _ = _run(folder)
    assert states["score.run"] == "success"
    assert _calls(folder) == ["t03.txt,t04.txt,t05.txt"]  # only the changed file's mini-batch ran
    rows = _rows(airflow_home, name)[-1]
    assert rows == [*expected[:4], "t04.txt TEXT FOUR", *expected[5:]]

    # regenerate_outputs: nothing is reused, not the step and not its mini-batches.
    states, _ = _run(folder, conf={"regenerate_outputs": True})
    assert len(_calls(folder)) == 4


def test_failures_are_counted_against_error_threshold(
    pipeline: tuple[Path, str], airflow_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder, name = pipeline
    (folder / "definitions" / "data" / "texts" / "t07.txt").write_text("boom")
    (folder / "definitions" / "data" / "texts" / "t01.txt").write_text("skip")
    _write(folder, name, threshold=4)
    states, run = _run(folder)  # run() raised for t06-t08 (3 failed) and left t01 out (1 failed): 4 <= 4
    assert states["score.run"] == "success"
    rows = _rows(airflow_home, name)[-1]
    assert [r.split()[0] for r in rows] == [f"t{i:02d}.txt" for i in (0, 2, 3, 4, 5, 9)]
    summary = run.get_task_instance("score.run").xcom_pull(task_ids="score.run", key="mlp_parallel_summary")
    assert summary["failed_items"] == 4
    assert summary["failed_mini_batches"] == 2

    _calls(folder)
    capfd.readouterr()
    _write(folder, name, threshold=2)  # a stricter limit: the step fails, naming the count
    states, run = _run(folder, expect="failed")
    assert states["score.run"] == "failed"
    # The failed mini-batches ran again (failures are never stored as results); the others were reused.
    assert sorted(_calls(folder)) == ["t00.txt,t01.txt,t02.txt", "t06.txt,t07.txt,t08.txt"]
    log = "".join(capfd.readouterr())
    assert "step 'score': 4 failed items exceed error_threshold 2" in log
    assert "ValueError: cannot score t06.txt,t07.txt,t08.txt" in log  # the entry script's traceback

    # allowed_failed_count counts failed mini-batches (SDK v1), whatever error_threshold says.
    _write(folder, name, threshold=-1, extra="\n    allowed_failed_count=1,")
    capfd.readouterr()
    _run(folder, expect="failed")
    assert "2 failed mini-batches exceed allowed_failed_count 1" in "".join(capfd.readouterr())


TABULAR = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, PipelineData, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
store = Datastore(ws, "local", url="data")
table = Dataset.Tabular.from_delimited_files([(store, "rows.csv")]).as_named_input("rows")
out = PipelineData("out")
config = ParallelRunConfig(
    entry_script="count.py", source_directory="src", mini_batch_size="{size}",
    error_threshold={threshold}, output_action="summary_only", compute_target="local", node_count=1,
)
step = ParallelRunStep(name="count", parallel_run_config=config, inputs=[table], output=out)
pipeline = Pipeline(ws, [step], name="{name}")
"""

COUNT = """\
import json, os
import pandas as pd
from airflow_mlpipelines.core import EntryScript

def run(mini_batch):
    assert isinstance(mini_batch, pd.DataFrame), type(mini_batch)
    entry = EntryScript()
    first = int(mini_batch["id"].iloc[0])
    with open(os.path.join(os.path.dirname(__file__), "..", "calls.log"), "a") as fh:
        fh.write(f"{first}\\n")
    with open(os.path.join(entry.output_dir, f"part-{first:04d}.json"), "w") as fh:
        json.dump({"rows": len(mini_batch), "total": int(mini_batch["value"].sum())}, fh)
    return mini_batch
"""


def test_tabular_dataset_mini_batches_are_dataframes_with_summary_only(
    scratch_dags: Path, airflow_home: Path
) -> None:
    name = f"prt_{scratch_dags.name}"[:60]
    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "data").mkdir()
    (definitions / f"{name}.py").write_text(TABULAR.format(name=name, size="200", threshold=-1))
    (definitions / "src" / "count.py").write_text(COUNT)
    (scratch_dags / ".airflowignore").write_text("definitions/\n")
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))
    lines = ["id,value"] + [f"{i},{i * 10}" for i in range(100)]
    (definitions / "data" / "rows.csv").write_text("\n".join(lines) + "\n")
    states, run = _run(scratch_dags)
    batches = [k for k in states if k.startswith("count.batch")]
    assert len(batches) > 1  # ~200 bytes each
    out = next(
        (airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(f"{name}/count/*/*/out")
    )
    assert not (out / "parallel_run_step.txt").exists()  # summary_only: no rows file
    parts = [json.loads(p.read_text()) for p in sorted(out.glob("part-*.json"))]
    assert len(parts) == len(batches)
    assert sum(p["rows"] for p in parts) == 100  # every row once, no header row counted
    assert sum(p["total"] for p in parts) == sum(i * 10 for i in range(100))
    summary = run.get_task_instance("count.run").xcom_pull(task_ids="count.run", key="mlp_parallel_summary")
    assert summary == {
        "mini_batches": len(batches),
        "items": 100,
        "failed_items": 0,
        "failed_mini_batches": 0,
        "reused_mini_batches": 0,
    }
    assert len(_calls(scratch_dags)) == len(batches)

    # Only a rule changed (error_threshold): the step's fingerprint did, no mini-batch's did. Every
    # mini-batch is reused (with the files its run wrote to output_dir) and the gather runs again.
    (definitions / f"{name}.py").write_text(TABULAR.format(name=name, size="200", threshold=0))
    states, run = _run(scratch_dags)
    assert states["count.run"] == "success"
    assert _calls(scratch_dags) == []
    summary = run.get_task_instance("count.run").xcom_pull(task_ids="count.run", key="mlp_parallel_summary")
    assert summary["reused_mini_batches"] == len(batches)
    outs = sorted(
        (airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(f"{name}/count/*/*/out"),
        key=lambda p: p.stat().st_mtime,
    )
    assert len(outs) == 2
    assert sorted(p.name for p in outs[-1].iterdir()) == sorted(p.name for p in out.iterdir())


KEYED = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, PipelineData, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
store = Datastore(ws, "local", url="data")
table = Dataset.Tabular.from_delimited_files([(store, "sales.csv")]).as_named_input("sales")
config = ParallelRunConfig(
    entry_script="total.py", source_directory="src", partition_keys=["region"],
    error_threshold=0, output_action="append_row", compute_target="local", node_count=1,
)
step = ParallelRunStep(name="total", parallel_run_config=config, inputs=[table])
pipeline = Pipeline(ws, [step], name="{name}")
"""

TOTAL = """\
def run(mini_batch):
    # One region per mini-batch: its rows back, with a running total column.
    assert mini_batch["region"].nunique() == 1, mini_batch
    mini_batch["total"] = mini_batch["amount"].cumsum()
    return mini_batch
"""


def test_partition_keys_make_one_mini_batch_per_key(scratch_dags: Path, airflow_home: Path) -> None:
    name = f"prk_{scratch_dags.name}"[:60]
    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    (definitions / "data").mkdir()
    (definitions / f"{name}.py").write_text(KEYED.format(name=name))
    (definitions / "src" / "total.py").write_text(TOTAL)
    (scratch_dags / ".airflowignore").write_text("definitions/\n")
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))
    rows = ["region,amount", "north,1", "south,10", "north,2", "east,100", "south,20"]
    (definitions / "data" / "sales.csv").write_text("\n".join(rows) + "\n")
    states, _ = _run(scratch_dags)
    assert sorted(k for k in states if k.startswith("total.batch")) == [f"total.batch[{i}]" for i in range(3)]
    (out,) = (airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(
        f"{name}/total/*/*/total_output/parallel_run_step.txt"
    )
    # Keys in order of first appearance; a DataFrame's rows are appended space-separated, no header.
    assert out.read_text().splitlines() == [
        "north 1 1",
        "north 2 3",
        "south 10 10",
        "south 20 30",
        "east 100 100",
    ]


PARTITIONED = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
store = Datastore(ws, "local", url="data")
logs = Dataset.{factory}([(store, "logs")], partition_format="/{{region}}/{{day}}/*.{suffix}")
config = ParallelRunConfig(
    entry_script="{script}", source_directory="src", partition_keys=["region"],
    error_threshold=0, output_action="append_row", compute_target="local", node_count=1,
)
step = ParallelRunStep(name="group", parallel_run_config=config, inputs=[logs.as_named_input("logs")])
pipeline = Pipeline(ws, [step], name="{name}")
"""

GROUP_FILES = """\
import os
def run(mini_batch):
    return [" ".join(p.split(os.sep)[-3:]) for p in mini_batch]
"""

GROUP_TABLE = """\
def run(mini_batch):
    # The group's files' rows, with the key from their paths as a column (SDK v1's partitioned dataset).
    assert mini_batch["region"].nunique() == 1
    return mini_batch.assign(total=mini_batch["n"].sum())  # one row per row: none failed
"""


@pytest.mark.parametrize("tabular", [False, True], ids=["files", "tabular"])
def test_partition_format_keys_make_one_mini_batch_per_partition(
    scratch_dags: Path, airflow_home: Path, tabular: bool
) -> None:
    name = f"prf{'t' if tabular else 'f'}_{scratch_dags.name}"[:60]
    definitions = scratch_dags / "definitions"
    (definitions / "src").mkdir(parents=True)
    factory, suffix, script = (
        ("Tabular.from_delimited_files", "csv", "table.py")
        if tabular
        else ("File.from_files", "txt", "files.py")
    )
    text = PARTITIONED.format(name=name, factory=factory, suffix=suffix, script=script)
    (definitions / f"{name}.py").write_text(text)
    (definitions / "src" / script).write_text(GROUP_TABLE if tabular else GROUP_FILES)
    (scratch_dags / ".airflowignore").write_text("definitions/\n")
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))
    for region, day, n in (("west", "d1", 1), ("east", "d1", 10), ("west", "d2", 2), ("east", "d2", 20)):
        folder = definitions / "data" / "logs" / region / day
        folder.mkdir(parents=True)
        (folder / f"part.{suffix}").write_text(f"n\n{n}\n" if tabular else str(n))
    states, _ = _run(scratch_dags)
    assert sorted(k for k in states if k.startswith("group.batch")) == ["group.batch[0]", "group.batch[1]"]
    (out,) = (airflow_home / "mlpipelines" / "datastore" / "workspaceblobstore").glob(
        f"{name}/group/*/*/group_output/parallel_run_step.txt"
    )
    if tabular:
        assert out.read_text().splitlines() == ["10 east 30", "20 east 30", "1 west 3", "2 west 3"]
    else:  # keys in order of first appearance (paths sorted: east before west)
        assert out.read_text().splitlines() == [
            "east d1 part.txt",
            "east d2 part.txt",
            "west d1 part.txt",
            "west d2 part.txt",
        ]


K8S_DEFINITION = """\
name: {name}
compute_targets:
  cluster:
    kind: kubernetes
    image: registry.example/batch:1
    namespace: scoring
datastores:
  local: {{url: data}}
datasets:
  texts: {{datastore: local, path: texts}}
steps:
  - name: score
    type: parallel_run
    source_directory: src
    compute: cluster
    inputs: [texts]
    output: scores
    parallel_run_config:
      entry_script: score.py
      mini_batch_size: 2
      node_count: 2
      process_count_per_node: 2
      run_max_try: 1
"""


def _xcom(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key).one()
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def test_kubernetes_mini_batches_are_mapped_pods_running_the_runtime(
    scratch_dags: Path, airflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    from types import SimpleNamespace

    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    from airflow_mlpipelines.compute.kubernetes import pod_name
    from airflow_mlpipelines.runtime import parallel
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.runner import RunnerIO
    from airflow_mlpipelines.storage import FsspecStorage

    name = f"prk8s_{scratch_dags.name}"[:60]
    (scratch_dags / f"{name}.yaml").write_text(K8S_DEFINITION.format(name=name))
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "score.py").write_text(SCORE)
    (scratch_dags / "data" / "texts").mkdir(parents=True)
    for i in range(5):
        (scratch_dags / "data" / "texts" / f"t{i:02d}.txt").write_text(f"text {i}")
    bag = DagBag(str(scratch_dags))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    mapped = dag.get_task("score.batch")
    assert mapped.operator_class is KubernetesPodOperator
    assert mapped.partial_kwargs["max_active_tis_per_dagrun"] == 4  # node_count x process_count_per_node

    first = dag.test()
    states = {}
    for ti in first.get_task_instances():
        states[ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"] = str(ti.state)
    assert states["score.reuse"] == "success"
    assert states["score.partition"] == "success"
    assert [states[f"score.batch[{i}]"] for i in range(3)] == ["failed"] * 3  # no cluster here
    assert states["score.run"] == "upstream_failed"
    plan = _xcom(dag.dag_id, first.run_id, "score.reuse", "mlp_plan")
    values = _xcom(dag.dag_id, first.run_id, "score.partition", "return_value")
    descriptors = _xcom(dag.dag_id, first.run_id, "score.partition", "mlp_batches")
    assert [d["items"] for d in descriptors] == [["t00.txt", "t01.txt"], ["t02.txt", "t03.txt"], ["t04.txt"]]
    assert values == [["--mini-batch", json.dumps(d, sort_keys=True)] for d in descriptors]

    # The exact pod of mini-batch 1: the runtime entrypoint, its descriptor, the plan in the environment.
    task = mapped.unmap({"arguments": values[1]})
    ti = SimpleNamespace(
        dag_id=dag.dag_id,
        task_id=task.task_id,
        run_id=first.run_id,
        try_number=1,
        map_index=1,
        xcom_pull=lambda task_ids, key: plan if (task_ids, key) == ("score.reuse", "mlp_plan") else None,
    )
    context: Any = {"ti": ti, "run_id": first.run_id, "dag": dag, "task": task}
    task.render_template_fields(context)
    pod = task.build_pod_request_obj(context, dry_run=True)
    assert pod.metadata.namespace == "scoring"
    assert pod.metadata.name.startswith(pod_name(name, "score-batch"))  # + the operator's random suffix
    (container,) = pod.spec.containers
    assert container.image == "registry.example/batch:1"
    assert container.command == ["python3", "-m", "airflow_mlpipelines.runtime.step_main"]
    assert container.args == ["--mini-batch", json.dumps(descriptors[1], sort_keys=True)]
    env = {e.name: e.value for e in container.env}
    assert json.loads(env["MLP_STEP_PLAN"]) == plan
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "MLP_STORAGE_CONNECTIONS" in env

    # Play the pods: each runs its mini-batch with the plan from its environment; the gather reads
    # their recorded results from storage (a pod pushes no XCom) and appends them in order.
    for value in values:
        done = subprocess.run(
            [sys.executable, "-m", "airflow_mlpipelines.runtime.step_main", *value],
            capture_output=True,
            text=True,
            check=False,
            env={**env, "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "succeeded" in done.stdout
    step_plan = StepPlan.from_json(plan)
    storage = FsspecStorage()
    batches = [parallel.MiniBatch.from_json(d) for d in descriptors]
    results = parallel.read_results(step_plan, batches, storage)
    assert [(r.index, r.items, r.failed, r.reused) for r in results] == [
        (0, 2, 0, False),
        (1, 2, 0, False),
        (2, 1, 0, False),
    ]
    said: list[str] = []
    io = RunnerIO(say=said.append, on_stdout=said.append, on_stderr=said.append)
    manifest = parallel.gather(step_plan, results, storage, io).manifest
    out = Path(manifest["outputs"]["scores"]["url"])
    assert (out / "parallel_run_step.txt").read_text().splitlines() == [
        f"t{i:02d}.txt TEXT {i}" for i in range(5)
    ]


def test_docker_mini_batches_are_a_mapped_docker_operator(scratch_dags: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.docker.operators.docker import DockerOperator

    from airflow_mlpipelines.compute.docker import KIND

    name = f"prdk_{scratch_dags.name}"[:60]
    text = K8S_DEFINITION.format(name=name).replace(
        "kind: kubernetes\n    image: registry.example/batch:1\n    namespace: scoring",
        "kind: docker\n    image: registry.example/batch:1",
    )
    (scratch_dags / f"{name}.yaml").write_text(text)
    (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.yaml"))
    (scratch_dags / "src").mkdir()
    (scratch_dags / "src" / "score.py").write_text(SCORE)
    bag = DagBag(str(scratch_dags))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    mapped = dag.get_task("score.batch")
    assert mapped.operator_class is DockerOperator
    kwargs = mapped.partial_kwargs
    assert "command" not in kwargs  # expanded: one command per mini-batch
    assert set(mapped.expand_input.value) == {"command"}
    plan = "{{ ti.xcom_pull(task_ids='score.reuse', key='mlp_plan') | tojson }}"
    assert kwargs["environment"]["MLP_STEP_PLAN"] == plan
    assert kwargs["image"] == "registry.example/batch:1"
    assert kwargs["max_active_tis_per_dagrun"] == 4
    descriptor = {"index": 0, "items": ["a.txt"]}
    assert KIND.mapped_value(descriptor) == [
        "python3",
        "-m",
        "airflow_mlpipelines.runtime.step_main",
        "--mini-batch",
        json.dumps(descriptor, sort_keys=True),
    ]
    assert [t.task_id for t in dag.get_task("score.partition").downstream_list] == ["score.batch"]
    assert [t.task_id for t in mapped.downstream_list] == ["score.run"]

    # What the scheduler gets: the mapped task's partial arguments survive the DAG's serialization.
    from airflow.serialization.serialized_objects import DagSerialization

    stored = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("score.batch")
    assert stored.partial_kwargs["environment"]["MLP_STEP_PLAN"] == plan
    assert stored.partial_kwargs["image"] == "registry.example/batch:1"


S3_BUCKET = "mlp-parallel"
S3_CONN = "mlp_parallel_s3"

S3_DEFINITION = """\
from airflow_mlpipelines.pipeline import (
    Dataset, Datastore, Pipeline, PipelineData, ParallelRunConfig, ParallelRunStep, Workspace,
)

ws = Workspace.from_config()
remote = Datastore(ws, "remote", url="s3://{conn}@{bucket}/data")
texts = Dataset.File.from_files([(remote, "texts")]).as_named_input("texts")
config = ParallelRunConfig(
    entry_script="score.py", source_directory="src", mini_batch_size=2, error_threshold=-1,
    output_action="append_row", compute_target="local", node_count=1,
)
step = ParallelRunStep(
    name="score", parallel_run_config=config, inputs=[texts], output=PipelineData("scores", datastore=remote)
)
pipeline = Pipeline(ws, [step], name="{name}")
"""


def test_object_storage_input_output_and_datastore_root(
    scratch_dags: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Everything on S3 (moto's server): the input's files, the output, and the datastore root that holds
    manifests, leases and the mini-batch folders; a changed object recomputes its mini-batch only."""
    from tests.deploy.servers import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        server.create_bucket(S3_BUCKET)
        connection = server.airflow_connection()
        monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN.upper()}", json.dumps(connection))
        from airflow_mlpipelines import settings

        # The settings are cached per process: replace the getter, as [mlpipelines] datastore_root would.
        monkeypatch.setattr(settings, "datastore_root", lambda: f"s3://{S3_CONN}@{S3_BUCKET}/root")
        s3 = server.client()
        for i in range(5):
            s3.put_object(Bucket=S3_BUCKET, Key=f"data/texts/t{i:02d}.txt", Body=f"text {i}".encode())
        name = f"prs3_{scratch_dags.name}"[:60]
        definitions = scratch_dags / "definitions"
        (definitions / "src").mkdir(parents=True)
        (definitions / f"{name}.py").write_text(
            S3_DEFINITION.format(name=name, conn=S3_CONN, bucket=S3_BUCKET)
        )
        (definitions / "src" / "score.py").write_text(SCORE)
        (scratch_dags / ".airflowignore").write_text("definitions/\n")
        (scratch_dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"{name}.py"))

        def rows() -> list[str]:
            keys = [
                o["Key"]
                for o in s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=f"data/{name}/score/")["Contents"]
                if o["Key"].endswith("/scores/parallel_run_step.txt")
            ]
            newest = max(keys, key=lambda k: s3.head_object(Bucket=S3_BUCKET, Key=k)["LastModified"])
            return s3.get_object(Bucket=S3_BUCKET, Key=newest)["Body"].read().decode().splitlines()

        states, _ = _run(scratch_dags)
        assert len([k for k in states if k.startswith("score.batch")]) == 3
        assert sorted(_calls(scratch_dags)) == ["t00.txt,t01.txt", "t02.txt,t03.txt", "t04.txt"]
        assert rows() == [f"t{i:02d}.txt TEXT {i}" for i in range(5)]
        listed = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix="root/_parallel/")["Contents"]
        assert sum(o["Key"].endswith("/manifest.json") for o in listed) == 3  # one per mini-batch

        s3.put_object(Bucket=S3_BUCKET, Key="data/texts/t03.txt", Body=b"text three")
        states, _ = _run(scratch_dags)
        assert _calls(scratch_dags) == ["t02.txt,t03.txt"]  # the changed object's mini-batch only
        assert rows()[3] == "t03.txt TEXT THREE"
    finally:
        server.process.stop()
