"""ParallelRunStep on a real Airflow (scheduler, executor, REST API v2): mini-batches are mapped task
instances the scheduler runs at most ``node_count × process_count_per_node`` at a time; the rows are
gathered in partition order; the entry script's ``EntryScript().logger`` lines are in each mapped
instance's own log; an unchanged step is reused whole on the next run."""

from __future__ import annotations

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

PIPELINE = """\
name: batch_e2e
datastores:
  local: {url: data}
datasets:
  texts: {datastore: local, path: texts}
steps:
  - name: score
    type: parallel_run
    source_directory: src
    inputs: [texts]
    output: scores
    parallel_run_config:
      entry_script: score.py
      mini_batch_size: 2
      node_count: 2
      process_count_per_node: 1
"""
SCORE = """\
import os, time
from airflow_mlpipelines.core import EntryScript

CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "calls.log")

def run(mini_batch):
    names = [os.path.basename(p) for p in mini_batch]
    with open(CALLS, "a") as fh:
        fh.write(f"start {time.time()} {','.join(names)}\\n")
    EntryScript().logger.info("scoring %s", ",".join(names))
    time.sleep(3)
    with open(CALLS, "a") as fh:
        fh.write(f"end {time.time()} {','.join(names)}\\n")
    return [n + " " + open(p).read() for n, p in zip(names, mini_batch)]
"""
FILES = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: ServerFactory) -> AirflowServer:
    dags = tmp_path_factory.mktemp("parallel") / "dags"
    (dags / "definitions" / "src").mkdir(parents=True)
    (dags / "definitions" / "data" / "texts").mkdir(parents=True)
    (dags / ".airflowignore").write_text("definitions/\n")
    (dags / "definitions" / "src" / "score.py").write_text(SCORE)
    for i in range(FILES):
        (dags / "definitions" / "data" / "texts" / f"t{i}.txt").write_text(f"text{i}")
    (dags / "definitions" / "batch_e2e.yaml").write_text(PIPELINE)
    (dags / "batch_e2e.py").write_text(STUB_TEMPLATE.format(definition="definitions/batch_e2e.yaml"))
    server = airflow_server_factory(dags)
    server.wait_for_dags(["batch_e2e"])
    server.unpause("batch_e2e")
    return server


def _most_at_once(lines: list[str]) -> int:
    events = sorted(
        (float(t), 1 if kind == "start" else -1) for kind, t, _ in (line.split() for line in lines)
    )
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_mini_batches_are_mapped_instances_limited_gathered_and_reused(server: AirflowServer) -> None:
    first = server.trigger_and_wait("batch_e2e", timeout=300)
    run_id = first["dag_run_id"]
    states = server.task_instances("batch_e2e", run_id)
    assert first["state"] == "success", states
    assert {k: v for k, v in states.items() if k.startswith("score.batch")} == {
        f"score.batch[{i}]": "success" for i in range(FILES // 2)
    }
    calls = (server.dags_folder / "definitions" / "calls.log").read_text().splitlines()
    assert len(calls) == FILES  # a start and an end per mini-batch
    # node_count x process_count_per_node: two at a time (4 mini-batches of 3 s each), never more.
    assert _most_at_once(calls) == 2
    log = server.task_log("batch_e2e", run_id, "score.batch", map_index=2)
    assert "scoring t4.txt,t5.txt" in log  # EntryScript().logger, in that mini-batch's own log
    store = server.home / "mlpipelines" / "datastore" / "workspaceblobstore"
    (rows,) = store.glob("batch_e2e/score/*/*/scores/parallel_run_step.txt")
    assert rows.read_text().splitlines() == [f"t{i}.txt text{i}" for i in range(FILES)]

    second = server.trigger_and_wait("batch_e2e", timeout=300)
    states = server.task_instances("batch_e2e", second["dag_run_id"])
    assert second["state"] == "success"
    assert (states["score.reuse"], states["score.partition"], states["score.run"]) == (
        "success",
        "skipped",
        "skipped",
    )
    assert len((server.dags_folder / "definitions" / "calls.log").read_text().splitlines()) == FILES
