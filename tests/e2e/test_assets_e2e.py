"""Assets and data-triggered runs (issue 15, items 5 and 6) on a real Airflow (scheduler, triggerer, DAG
processor, API server), driven and checked through REST API v2.

- A producer's output is an asset with a stable URI: its events carry the fingerprint and manifest
  digest, a consumer scheduled on it runs after each, and a reused producer step still emits one.
- A datastore watch: a file dropped into the watched folder starts a run whose parameter is its path;
  a file that was there before the watch started does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

OUTPUT = "mlpipelines://output/producer/train/model"
PRODUCER = """\
name: producer
datastores:
  raw: {{url: {raw}}}
datasets:
  table: {{datastore: raw, path: table.csv}}
steps:
  - name: train
    script: step.py
    source_directory: src
    inputs: [table]
    arguments: [train, {{input: table}}, {{output: model}}]
    outputs: [model]
"""
CONSUMER = """\
name: consumer
schedule:
  assets: [producer.train.model]
steps:
  - name: score
    script: step.py
    source_directory: src
    arguments: [score, none, {{output: scores}}]
    outputs: [scores]
"""
WATCHER = """\
name: watcher
parameters:
  data: {{type: string, default: ""}}
datastores:
  raw: {{url: {raw}}}
schedule:
  datastore: raw
  path_on_datastore: incoming
  polling_interval: 0.05
  data_path_parameter_name: data
steps:
  - name: ingest
    script: step.py
    source_directory: src
    arguments: [ingest, {{parameter: data}}, {{output: copied}}]
    outputs: [copied]
"""
STEP = """\
import os, sys
print("step", sys.argv[1], "saw", sys.argv[2])
open(os.path.join(sys.argv[3], "seen.txt"), "w").write(sys.argv[2])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: ServerFactory) -> AirflowServer:
    root = tmp_path_factory.mktemp("assets")
    dags, raw = root / "dags", root / "raw"
    (dags / "definitions" / "src").mkdir(parents=True)
    (raw / "incoming").mkdir(parents=True)
    (raw / "table.csv").write_text("a,b\n1,2\n")
    (raw / "incoming" / "before.csv").write_text("there before the watch started\n")
    (dags / ".airflowignore").write_text("definitions/\n")
    (dags / "definitions" / "src" / "step.py").write_text(STEP)
    for name, text in (("producer", PRODUCER), ("consumer", CONSUMER), ("watcher", WATCHER)):
        (dags / "definitions" / f"{name}.yaml").write_text(text.format(raw=raw))
        (dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/{name}.yaml"))
    # A loaded machine (shared CI cores) can take longer than the default 5 s to start a task.
    server = airflow_server_factory(dags, {"AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60"})
    server.wait_for_dags(["producer", "consumer", "watcher"])
    for dag_id in ("producer", "consumer", "watcher"):
        server.unpause(dag_id)
    return server


def _asset(server: AirflowServer, uri: str) -> dict[str, Any] | None:
    return next((a for a in server.all("/api/v2/assets", "assets") if a["uri"] == uri), None)


def _events(server: AirflowServer, asset_id: int, count: int) -> list[dict[str, Any]]:
    """The asset's events once there are ``count`` of them.

    Airflow 3.3.2 answers 500 on this endpoint while a run the event created has no start date yet
    (``AssetEventResponse.created_dagruns[].start_date`` must be a datetime: apache/airflow#71360, fixed
    by apache/airflow#71379 after 3.3.2), so that answer is retried.
    """

    def seen() -> list[dict[str, Any]] | None:
        response = server.get("/api/v2/assets/events", params={"asset_id": asset_id, "order_by": "timestamp"})
        if response.status_code == 500:  # retried until it answers (the poll's timeout ends it)
            return None
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["asset_events"]
        return events if len(events) >= count else None

    return server.poll(f"{count} events of asset {asset_id}", seen, timeout=120, interval=1)


def _runs(server: AirflowServer, dag_id: str) -> list[dict[str, Any]]:
    runs = server.all(f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs")
    return sorted(runs, key=lambda r: str(r["run_after"]))


def _finished(server: AirflowServer, dag_id: str, count: int) -> list[dict[str, Any]]:
    """The DAG's runs once ``count`` of them have finished."""

    def done() -> list[dict[str, Any]] | None:
        runs = _runs(server, dag_id)
        return runs if sum(r["state"] in ("success", "failed") for r in runs) >= count else None

    return server.poll(f"{count} finished runs of {dag_id}", done, timeout=240, interval=2)


def test_outputs_are_assets_that_schedule_a_consumer_and_a_reused_step_still_emits(
    server: AirflowServer,
) -> None:
    inlet = f"file://{server.dags_folder.parent / 'raw' / 'table.csv'}"
    assert _asset(server, OUTPUT) is not None, "the output asset is known once the DAG is parsed"
    assert _asset(server, inlet) is not None, "the dataset is the step's inlet"

    first = server.trigger_and_wait("producer")
    assert first["state"] == "success"
    model = _asset(server, OUTPUT)
    assert model is not None
    (computed,) = _events(server, model["id"], 1)
    assert computed["source_dag_id"] == "producer"
    assert computed["source_task_id"] == "train.run"
    extra = computed["extra"]
    assert extra["reused"] is False
    (manifest,) = (server.home / "mlpipelines" / "datastore" / "_manifests" / "producer" / "train").glob(
        "*/manifest.json"
    )
    committed = json.loads(manifest.read_text())
    assert extra["fingerprint"] == committed["fingerprint"]["digest"]
    assert extra["manifest_digest"] == committed["digest"]
    assert Path(extra["url"], "seen.txt").read_text().endswith("table.csv")
    consumer_runs = _finished(server, "consumer", 1)
    assert consumer_runs[0]["run_type"] == "asset_triggered"
    assert consumer_runs[0]["state"] == "success"

    second = server.trigger_and_wait("producer")
    assert second["state"] == "success"
    assert server.task_instances("producer", second["dag_run_id"])["train.run"] == "skipped"
    reused = _events(server, model["id"], 2)[1]
    assert reused["source_task_id"] == "train.reuse"
    assert reused["source_run_id"] == second["dag_run_id"]
    assert reused["extra"]["reused"] is True
    # The same data: same fingerprint, same manifest, the folder the first run wrote.
    for key in ("fingerprint", "manifest_digest", "url"):
        assert reused["extra"][key] == extra[key]
    assert reused["extra"]["produced_by"]["run_id"] == first["dag_run_id"]
    consumer_runs = _finished(server, "consumer", 2)
    assert [r["run_type"] for r in consumer_runs] == ["asset_triggered"] * 2


def test_a_file_dropped_into_a_watched_folder_starts_a_run_with_its_path(server: AirflowServer) -> None:
    home = server.home / "mlpipelines" / "datastore"
    server.poll(
        "the watch's baseline record",
        lambda: list((home / "_watches" / "watcher").glob("*.json")),
        timeout=120,
        interval=1,
    )
    incoming = server.dags_folder.parent / "raw" / "incoming"
    tmp = incoming / ".new.csv.part"  # hidden while it is written, then renamed into place
    tmp.write_text("x,y\n3,4\n")
    os.replace(tmp, incoming / "new.csv")

    (run,) = _finished(server, "watcher", 1)
    assert run["run_type"] == "asset_triggered"
    assert run["state"] == "success", server.task_instances("watcher", run["dag_run_id"])
    log = server.task_log("watcher", run["dag_run_id"], "ingest.run")
    assert f"step ingest saw {incoming / 'new.csv'}" in log
    seen = list(home.glob("workspaceblobstore/watcher/ingest/*/*/copied/seen.txt"))
    assert [p.read_text() for p in seen] == [str(incoming / "new.csv")]

    (incoming / "new.csv").write_text("x,y\n3,4\n5,6\n")  # changed: fires again
    runs = _finished(server, "watcher", 2)
    assert [r["state"] for r in runs] == ["success", "success"]
    log = server.task_log("watcher", runs[1]["dag_run_id"], "ingest.run")
    assert f"step ingest saw {incoming / 'new.csv'}" in log
    assert "before.csv" not in "".join(
        server.task_log("watcher", r["dag_run_id"], "ingest.run") for r in runs
    ), "a file that was there before the watch started is its baseline"
