"""The examples on a real Airflow 3 (scheduler, DAG processor, API server), driven through REST API v2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.harness import AirflowServer
from tests.shared import BROKEN_YAML, EXAMPLE_DAG_IDS

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DAG_IDS = list(EXAMPLE_DAG_IDS)


DEDUPE_YAML = """\
name: dedupe
steps:
  - name: slow
    script: slow.py
    source_directory: src/slow
    arguments: [{output: result}]
    outputs: [result]
"""
SLOW_SCRIPT = """\
import os, sys, time
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "slow_calls.log"), "a") as fh:
    fh.write("call\\n")
time.sleep(15)  # long enough that the second run surely arrives while this one runs
open(os.path.join(sys.argv[1], "result.txt"), "w").write("done")
"""


FRAMES_DAG = """\
import datetime

from airflow.sdk import DAG, task

with DAG("frames_flow", schedule=None, start_date=datetime.datetime(2024, 1, 1), catchup=False):

    @task
    def produce():
        import pandas as pd

        return pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "s": ["a", "b", None]})

    @task
    def consume(df):
        assert str(df["n"].dtype) == "Int64", df.dtypes
        return int(df["n"].sum())

    consume(produce())
"""


def _safe(run_id: str) -> str:
    from airflow_mlpipelines.paths import safe_segment

    return safe_segment(run_id)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory) -> AirflowServer:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("e2e")
    dags = root / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "definitions" / "broken.yaml").write_text(BROKEN_YAML)
    shutil.copy(dags / "seed004_yaml.py", dags / "broken.py")
    (dags / "definitions" / "dedupe.yaml").write_text(DEDUPE_YAML)
    (dags / "definitions" / "src" / "slow").mkdir()
    (dags / "definitions" / "src" / "slow" / "slow.py").write_text(SLOW_SCRIPT)
    shutil.copy(dags / "seed004_yaml.py", dags / "dedupe.py")
    (dags / "frames_flow.py").write_text(FRAMES_DAG)
    server: AirflowServer = airflow_server_factory(
        dags, {"AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend"}
    )
    server.wait_for_dags([*DAG_IDS, "dedupe", "frames_flow"])
    for dag_id in [*DAG_IDS, "dedupe", "frames_flow"]:
        server.unpause(dag_id)
    return server


def _output(server: AirflowServer, dag_id: str, step: str, run_id: str, name: str) -> Path:
    """``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>`` of the run that computed it."""
    step_dir = server.home / "mlpipelines" / "datastore" / "workspaceblobstore" / dag_id / step
    (found,) = step_dir.glob(f"*/{_safe(run_id)}/{name}")
    return found


def test_broken_definition_is_an_import_error_of_its_own_file(server: AirflowServer) -> None:
    server.wait_for_import_errors(["broken.py"], timeout=120)
    errors = server.import_errors()
    assert [e["filename"] for e in errors] == ["broken.py"]  # dedupe.py, a scratch pipeline, loads fine
    assert "broken.yaml:5, step 'prepare', field 'argumentz'" in errors[0]["stack_trace"]
    assert "did you mean 'arguments'?" in errors[0]["stack_trace"]
    for dag_id in DAG_IDS:
        assert server.get(f"/api/v2/dags/{dag_id}").status_code == 200


def test_seed004_yaml_runs_through_rest(server: AirflowServer) -> None:
    run = server.trigger_and_wait("seed004_yaml")
    assert run["state"] == "success"
    steps = ["prepare", "train", "baseline", "compare"]
    states = server.task_instances("seed004_yaml", run["dag_run_id"])
    assert states == {f"{s}.{t}": "success" for s in steps for t in ("reuse", "run")}
    result = _output(server, "seed004_yaml", "compare", run["dag_run_id"], "comparison") / "comparison.json"
    assert json.loads(result.read_text())["best"] == "training_results"
    log = server.task_log("seed004_yaml", run["dag_run_id"], "prepare.run")
    assert "prepared 60 rows with 4 features" in log


def test_seed004_sdk_and_fan_out_in(server: AirflowServer) -> None:
    sdk = server.trigger_and_wait("seed004_sdk")
    fan = server.trigger_and_wait("fan_out_in")
    assert (sdk["state"], fan["state"]) == ("success", "success")
    assert set(server.task_instances("fan_out_in", fan["dag_run_id"]).values()) == {"success"}
    scores = json.loads(
        (
            _output(server, "fan_out_in", "compare", fan["dag_run_id"], "comparison") / "comparison.json"
        ).read_text()
    )["scores"]
    assert sorted(scores) == ["model_a", "model_b", "model_c"]


def test_parameters_from_conf(server: AirflowServer) -> None:
    run = server.trigger_and_wait("parameterised", {"shrink": 0.25, "run_label": "experiment", "epochs": 9})
    assert run["state"] == "success"
    again = server.trigger_and_wait("parameterised", {"shrink": 0.25, "run_label": "experiment", "epochs": 9})
    assert _runs_of(server, "parameterised", again["dag_run_id"]) == {"report"}  # allow_reuse: false
    report = json.loads(
        (_output(server, "parameterised", "report", run["dag_run_id"], "report") / "report.json").read_text()
    )
    assert (report["label"], report["epochs"], report["shrink"]) == ("experiment", 9, 0.25)


@pytest.mark.parametrize(
    ("conf", "fragment"),
    [
        ({"shrink": "lots"}, "shrink"),
        ({"shrink": 3}, "shrink"),
        ({"run_label": "weekly"}, "run_label"),
        ({"epochs": 1.5}, "epochs"),
    ],
)
def test_invalid_conf_is_rejected(server: AirflowServer, conf: dict[str, object], fragment: str) -> None:
    response = server.trigger("parameterised", conf)
    assert response.status_code == 400, response.text
    assert fragment in response.text


def _runs_of(server: AirflowServer, dag_id: str, run_id: str) -> set[str]:
    states = server.task_instances(dag_id, run_id)
    return {t.split(".")[0] for t, s in states.items() if t.endswith(".run") and s == "success"}


def test_reuse_through_rest(server: AirflowServer) -> None:
    """Identical re-run reuses every step; a changed script re-runs its step only; regenerate re-runs all."""
    steps = {"prepare", "train", "baseline", "compare"}
    assert server.trigger_and_wait("seed004_yaml")["state"] == "success"
    again = server.trigger_and_wait("seed004_yaml")
    assert again["state"] == "success"
    states = server.task_instances("seed004_yaml", again["dag_run_id"])
    assert {t: s for t, s in states.items() if t.endswith(".run")} == {f"{s}.run": "skipped" for s in steps}
    log = server.task_log("seed004_yaml", again["dag_run_id"], "train.reuse")
    assert "reused train from seed004_yaml/" in log

    compare = server.dags_folder / "definitions" / "src" / "compare" / "compare.py"
    compare.write_text(compare.read_text() + "\n# tweaked\n")
    changed = server.trigger_and_wait("seed004_yaml")
    assert _runs_of(server, "seed004_yaml", changed["dag_run_id"]) == {"compare"}
    log = server.task_log("seed004_yaml", changed["dag_run_id"], "compare.reuse")
    assert "not reused: source file compare.py changed" in log

    forced = server.trigger_and_wait("seed004_yaml", {"force_rerun": ["train"]})
    assert _runs_of(server, "seed004_yaml", forced["dag_run_id"]) == {"train"}
    log = server.task_log("seed004_yaml", forced["dag_run_id"], "train.reuse")
    assert "not reused: the run's conf lists this step in force_rerun" in log

    regenerated = server.trigger_and_wait("seed004_yaml", {"regenerate_outputs": True})
    assert _runs_of(server, "seed004_yaml", regenerated["dag_run_id"]) == steps


def test_two_concurrent_runs_execute_a_step_once(server: AirflowServer) -> None:
    responses = [server.trigger("dedupe"), server.trigger("dedupe")]
    assert [r.status_code for r in responses] == [200, 200]
    runs = [server.wait_for_run("dedupe", r.json()["dag_run_id"]) for r in responses]
    assert [r["state"] for r in runs] == ["success", "success"]
    states = sorted(server.task_instances("dedupe", r["dag_run_id"])["slow.run"] for r in runs)
    assert states == ["skipped", "success"]
    calls = (server.dags_folder / "definitions" / "slow_calls.log").read_text().splitlines()
    assert calls == ["call"]
    waiter = next(
        r for r in runs if server.task_instances("dedupe", r["dag_run_id"])["slow.run"] == "skipped"
    )
    log = server.task_log("dedupe", waiter["dag_run_id"], "slow.reuse")
    assert "waiting: step slow with fingerprint" in log
    assert "reused slow from dedupe/" in log


def test_dataframe_xcom_across_worker_processes(server: AirflowServer) -> None:
    run = server.trigger_and_wait("frames_flow")
    assert run["state"] == "success"
    base = f"/api/v2/dags/frames_flow/dagRuns/{run['dag_run_id']}/taskInstances"
    stored = server.get(f"{base}/produce/xcomEntries/return_value").json()["value"]
    ref = json.loads(stored) if isinstance(stored, str) else stored
    assert ref["__mlp_ref__"] == 1
    assert ref["preview"] == {
        "shape": [3, 2],
        "columns": ["n", "s"],
        "head": [["1", "a"], [None, "b"], ["3", None]],
    }
    assert Path(ref["uri"]).is_file()
    # What the UI asks for (deserialize + stringify) is the reference's text, with the preview in it.
    shown = server.get(
        f"{base}/produce/xcomEntries/return_value", params={"deserialize": "true", "stringify": "true"}
    ).json()["value"]
    assert "'shape': [3, 2]" in shown or '"shape": [3, 2]' in shown, shown
    total = server.get(f"{base}/consume/xcomEntries/return_value").json()["value"]
    assert (json.loads(total) if isinstance(total, str) else total) == 4


def _xcom_ref(server: AirflowServer, base: str, task: str) -> dict[str, object]:
    stored = server.get(f"{base}/{task}/xcomEntries/return_value").json()["value"]
    ref: dict[str, object] = json.loads(stored) if isinstance(stored, str) else stored
    return ref


def test_clearing_a_task_purges_its_stored_dataframe(server: AirflowServer) -> None:
    """Airflow deletes a cleared task's XComs when it runs again, calling the backend's purge first."""
    run = server.trigger_and_wait("frames_flow")
    run_id = run["dag_run_id"]
    base = f"/api/v2/dags/frames_flow/dagRuns/{run_id}/taskInstances"
    first = Path(str(_xcom_ref(server, base, "produce")["uri"]))
    assert first.is_file()
    response = server.post(
        "/api/v2/dags/frames_flow/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": ["produce"],
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert response.status_code == 200, response.text
    again = server.wait_for_run("frames_flow", run_id)
    assert again["state"] == "success"
    second = Path(str(_xcom_ref(server, base, "produce")["uri"]))
    assert second != first
    assert second.is_file()
    assert not first.exists(), "the cleared XCom's file was not purged"
