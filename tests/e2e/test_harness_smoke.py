"""The e2e harness against a real Airflow: discovery, import errors, trigger with conf, states, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ServerFactory

pytestmark = pytest.mark.e2e

GOOD_DAG = """
import logging

from airflow.sdk import dag, task

log = logging.getLogger(__name__)


@dag(dag_id="harness_smoke", schedule=None, catchup=False)
def harness_smoke():
    @task
    def produce(**context) -> int:
        n = int(context["dag_run"].conf["n"])
        log.info("harness smoke produced %d", n)
        return n

    @task
    def consume(n: int) -> None:
        assert n == 21
        print(f"harness smoke consumed {n * 2}")

    consume(produce())


harness_smoke()
"""

# dag_discovery_safe_mode only parses files that mention both "airflow" and "dag".
BROKEN_DAG = """
from airflow.sdk import dag

raise RuntimeError("harness smoke: broken on purpose")
"""


def test_harness_against_real_airflow(tmp_path: Path, airflow_server_factory: ServerFactory) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "harness_smoke.py").write_text(GOOD_DAG)
    (dags / "harness_broken.py").write_text(BROKEN_DAG)

    server = airflow_server_factory(dags)
    server.wait_for_dags(["harness_smoke"], timeout=60)
    errors = server.wait_for_import_errors(["harness_broken.py"], timeout=60)
    assert [e["filename"] for e in errors] == ["harness_broken.py"]
    assert "broken on purpose" in errors[0]["stack_trace"]
    assert server.get("/api/v2/dags/harness_smoke").json()["is_paused"] is True

    server.unpause("harness_smoke")
    run = server.trigger_and_wait("harness_smoke", {"n": 21}, timeout=120)
    assert run["state"] == "success", server.log_tail()
    assert run["conf"] == {"n": 21}
    assert server.task_instances("harness_smoke", run["dag_run_id"]) == {
        "produce": "success",
        "consume": "success",
    }
    assert "harness smoke produced 21" in server.task_log("harness_smoke", run["dag_run_id"], "produce")
    assert "harness smoke consumed 42" in server.task_log("harness_smoke", run["dag_run_id"], "consume")
