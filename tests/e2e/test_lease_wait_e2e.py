"""Waiting for another run's lease holds no worker slot (issue 11, item 6), on a real Airflow with 2 slots.

- While run A computes a slow step and run B's reuse task waits for A's lease, an unrelated DAG still
  runs: B's wait is a rescheduled sensor, not a task sitting in an executor slot.
- More identical runs than slots all finish, and every step's script runs exactly once.
"""

from __future__ import annotations

import datetime
import time

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

SLOTS = 2
PIPELINE = """\
name: {name}
steps:
  - name: first
    script: step.py
    source_directory: src
    arguments: [{name}-first, {seconds}, {{output: out}}]
    outputs: [out]
  - name: second
    script: step.py
    source_directory: src
    arguments: [{name}-second, 1, {{output: out2}}, {{input: out}}]
    outputs: [out2]
"""
STEP = """\
import os, sys, time
# Outside the source directory: writing into it would change the step's fingerprint.
calls = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "calls.log")
with open(calls, "a") as fh:
    fh.write(sys.argv[1] + "\\n")
time.sleep(float(sys.argv[2]))
open(os.path.join(sys.argv[3], "done.txt"), "w").write(sys.argv[1])
"""
UNRELATED = """\
import datetime

from airflow.sdk import DAG, task

with DAG("unrelated", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task
    def quick() -> int:
        return 1

    quick()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: ServerFactory) -> AirflowServer:
    dags = tmp_path_factory.mktemp("lease-wait") / "dags"
    (dags / "definitions" / "src").mkdir(parents=True)
    (dags / ".airflowignore").write_text("definitions/\n")
    (dags / "definitions" / "src" / "step.py").write_text(STEP)
    for name, seconds in (("slow_pipe", 30), ("many_pipe", 6)):
        (dags / "definitions" / f"{name}.yaml").write_text(PIPELINE.format(name=name, seconds=seconds))
        (dags / f"{name}.py").write_text(STUB_TEMPLATE.format(definition=f"definitions/{name}.yaml"))
    (dags / "unrelated.py").write_text(UNRELATED)
    server = airflow_server_factory(dags, {"AIRFLOW__CORE__PARALLELISM": str(SLOTS)})
    server.wait_for_dags(["slow_pipe", "many_pipe", "unrelated"])
    for dag_id in ("slow_pipe", "many_pipe", "unrelated"):
        server.unpause(dag_id)
    return server


def _calls(server: AirflowServer) -> list[str]:
    path = server.dags_folder / "definitions" / "calls.log"
    return path.read_text().split() if path.exists() else []


def _when(text: str | None) -> datetime.datetime:
    assert text is not None
    return datetime.datetime.fromisoformat(text)


def test_a_run_waiting_for_a_lease_leaves_its_slot_to_others(server: AirflowServer) -> None:
    a = server.trigger("slow_pipe").json()["dag_run_id"]
    server.poll(
        "run A computing the slow step",
        lambda: server.task_instances("slow_pipe", a).get("first.run") == "running",
        timeout=120,
    )
    b = server.trigger("slow_pipe").json()["dag_run_id"]
    server.poll(
        "run B waiting for A's lease",
        lambda: server.task_instances("slow_pipe", b).get("first.reuse") == "deferred",
        timeout=60,
    )
    # Both slots would be taken (A's step + B's waiting sensor) if the wait held its slot.
    unrelated = server.trigger_and_wait("unrelated", timeout=120)
    assert unrelated["state"] == "success"
    a_first = server.task_instance("slow_pipe", a, "first.run")
    assert a_first["state"] == "running", "the unrelated DAG should finish while A's step still runs"

    runs = [server.wait_for_run("slow_pipe", run, timeout=240) for run in (a, b)]
    assert [r["state"] for r in runs] == ["success", "success"]
    assert _calls(server).count("slow_pipe-first") == 1  # B reused what A computed
    states_b = server.task_instances("slow_pipe", b)
    assert states_b["first.run"] == states_b["second.run"] == "skipped"
    log = server.task_log("slow_pipe", b, "first.reuse")
    assert "waiting: step first" in log
    assert "frees its slot" in log
    assert "reused first from slow_pipe/" + a in log
    # Logged once a minute at most, not on every 5-second poke (A's step runs 30 s).
    assert log.count("waiting: step first") <= 2
    assert "not reused" not in log  # it never decided to run


def test_more_identical_runs_than_slots_all_finish_each_step_once(server: AirflowServer) -> None:
    started = time.monotonic()
    runs = [server.trigger("many_pipe").json()["dag_run_id"] for _ in range(2 * SLOTS)]
    finished = [server.wait_for_run("many_pipe", run, timeout=300) for run in runs]
    assert [r["state"] for r in finished] == ["success"] * len(runs), [
        server.task_instances("many_pipe", r) for r in runs
    ]
    calls = _calls(server)
    assert calls.count("many_pipe-first") == 1
    assert calls.count("many_pipe-second") == 1
    leases = list(
        (server.home / "mlpipelines" / "datastore" / "_manifests" / "many_pipe").rglob("lease.json")
    )
    assert leases, "the steps took leases"
    assert all('"released": true' in p.read_text() for p in leases), [p.read_text() for p in leases]
    assert time.monotonic() - started < 300
