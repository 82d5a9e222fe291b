"""Operating pipelines on a real Airflow (issue 15): publish a pipeline, run it through its endpoint with
Azure ML's request body, version it behind a pipeline endpoint, and change its schedule in the plugin's
page in headless Chromium, reading the result back over REST API v2.

Every route of the plugin wants an Airflow token and the caller's permission on the DAG: anonymous
requests get 401, the simple auth manager's ``viewer`` role (read only) 403 where it would run or change.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_mlpipelines.core import SubmitError, Workspace
from airflow_mlpipelines.pipeline import (
    Pipeline,
    PipelineData,
    PipelineEndpoint,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Schedule,
    ScheduleRecurrence,
)
from tests.e2e.browser import Browser, chromium_binary
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

DAG_ID = "ops_demo"
DEFINITION = """\
name: ops_demo
description: One step that writes the parameters it was given.
parameters:
  alpha: {type: number, default: 0.5, minimum: 0, maximum: 1}
  label: {type: string, default: plain}
datastores:
  inbox: {url: inbox}
steps:
  - name: train
    script: train.py
    source_directory: src
    arguments: ["--alpha", {parameter: alpha}, "--label", {parameter: label}, "--out", {output: model}]
    outputs: [model]
"""
SCRIPT = """\
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("--alpha"); p.add_argument("--label"); p.add_argument("--out")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "params.json"), "w") as f:
    json.dump({"alpha": float(a.alpha), "label": a.label}, f)
print("trained with", a.alpha, a.label)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: Any) -> AirflowServer:
    dags = tmp_path_factory.mktemp("ops-e2e") / "dags"
    (dags / "src").mkdir(parents=True)
    (dags / "inbox").mkdir()
    (dags / f"{DAG_ID}.yaml").write_text(DEFINITION)
    (dags / "src" / "train.py").write_text(SCRIPT)
    (dags / f"{DAG_ID}.py").write_text(
        "from airflow_mlpipelines.dag_factory import load_pipeline\nload_pipeline(globals(), __file__)\n"
    )
    (dags / ".airflowignore").write_text("src/\ninbox/\n")
    started: AirflowServer = airflow_server_factory(
        dags,
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__MLPIPELINES__DATASTORE_ROOT": str(tmp_path_factory.mktemp("ops-store")),
        },
    )
    started.wait_for_dags([DAG_ID])
    started.unpause(DAG_ID)
    return started


def _token(server: AirflowServer, user: str) -> str:
    passwords = json.loads((Path(server.home) / "simple_auth_manager_passwords.json.generated").read_text())
    response = httpx.post(
        f"{server.base_url}/auth/token", json={"username": user, "password": passwords[user]}
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def workspace(server: AirflowServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import os

    os.environ["OPS_E2E_TOKEN"] = _token(server, "admin")
    config = tmp_path_factory.mktemp("notebook") / "config.json"
    config.write_text(json.dumps({"airflow": {"api_url": server.base_url, "token_env": "OPS_E2E_TOKEN"}}))
    return Workspace.from_config(str(config))


def _same_pipeline_in_python(workspace: Any) -> Pipeline:
    """The notebook's SDK v1 code for the deployed pipeline (only the imports differ from Azure ML)."""
    alpha = PipelineParameter(name="alpha", default_value=0.5)
    label = PipelineParameter(name="label", default_value="plain")
    model = PipelineData("model")
    train = PythonScriptStep(
        name="train",
        script_name="train.py",
        source_directory="src",
        arguments=["--alpha", alpha, "--label", label, "--out", model],
        outputs=[model],
    )
    return Pipeline(workspace=workspace, steps=[train], name=DAG_ID)


def _wait(server: AirflowServer, run_id: str) -> dict[str, Any]:
    run = server.wait_for_run(DAG_ID, run_id, timeout=240)
    assert run["state"] == "success", server.task_instances(DAG_ID, run_id)
    return run


def _post(url: str, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json=body, headers=headers, timeout=30)


def test_publish_run_version_and_secure_the_endpoint(server: AirflowServer, workspace: Any) -> None:
    published = _same_pipeline_in_python(workspace).publish(name="ops", description="first", version="1.0")
    assert published.status == "Active"
    assert published.endpoint == f"{server.base_url}/mlpipelines/pipelines/{published.id}"
    admin = _token(server, "admin")

    # Azure ML's documented call: POST the body with a bearer token, read response.json()["Id"].
    body = {"ExperimentName": "nightly", "ParameterAssignments": {"alpha": "0.25", "label": "from-rest"}}
    response = _post(published.endpoint, admin, body)
    assert response.status_code == 200, response.text
    run_id = response.json()["Id"]
    run = _wait(server, run_id)
    assert run["conf"] == {"alpha": 0.25, "label": "from-rest"}
    assert "experiment 'nightly'" in (run.get("note") or "")
    log = server.task_log(DAG_ID, run_id, "train.run")
    assert "trained with 0.25 from-rest" in log

    # Bad values are a 400 naming the parameter; unknown parameters and fields are not dropped.
    bad = _post(published.endpoint, admin, {"ParameterAssignments": {"alpha": 5}})
    assert bad.status_code == 400
    assert "alpha" in bad.text
    assert "maximum" in bad.text or "less than or equal" in bad.text
    unknown = _post(published.endpoint, admin, {"ParameterAssignments": {"alpah": 0.1}})
    assert unknown.status_code == 400
    assert unknown.json()["detail"]["field"] == "ParameterAssignments.alpah"
    assert "did you mean 'alpha'" in unknown.text

    # Security: no token → 401; a read-only user may read but not run, publish or disable.
    assert _post(published.endpoint, None, body).status_code == 401
    viewer = _token(server, "viewer")
    assert _post(published.endpoint, viewer, body).status_code == 403
    read = httpx.get(f"{server.base_url}/mlpipelines/api/published/{published.id}",
                     headers={"Authorization": f"Bearer {viewer}"})  # fmt: skip
    assert read.status_code == 200
    assert read.json()["Name"] == "ops"
    denied = _post(f"{server.base_url}/mlpipelines/api/published", viewer, {"dag_id": DAG_ID})
    assert denied.status_code == 403
    assert httpx.get(f"{server.base_url}/mlpipelines/api/published").status_code == 401
    assert httpx.get(f"{server.base_url}/mlpipelines/schedules").status_code == 401

    # get / list / disable / enable.
    assert PublishedPipeline.get(workspace, published.id).name == "ops"
    assert [p.id for p in PublishedPipeline.list(workspace)] == [published.id]
    published.disable()
    assert published.status == "Disabled"
    assert server.get(f"/api/v2/dags/{DAG_ID}").json()["is_paused"] is True
    refused = _post(published.endpoint, admin, body)
    assert refused.status_code == 409
    assert "disabled" in refused.text
    assert PublishedPipeline.list(workspace) == []
    published.enable()
    assert server.get(f"/api/v2/dags/{DAG_ID}").json()["is_paused"] is False

    # A pipeline endpoint: version 0, then a second published pipeline as the new default.
    endpoint = PipelineEndpoint.publish(workspace, "ops-endpoint", "stable address", published)
    second = PublishedPipeline.create(
        workspace, _same_pipeline_in_python(workspace), name="ops", version="2.0"
    )
    endpoint.add_default(second)
    assert endpoint.list_versions() == [("0", published.id), ("1", second.id)]
    assert endpoint.default_version == "1"
    assert PipelineEndpoint.get(workspace, name="ops-endpoint").get_pipeline().id == second.id
    by_default = _post(endpoint.endpoint, admin, {"ParameterAssignments": {"alpha": 0.75}})
    assert by_default.status_code == 200, by_default.text
    assert by_default.json()["PipelineId"] == second.id
    by_version = _post(f"{endpoint.endpoint}/0", admin, {"ParameterAssignments": {"alpha": 0.5}})
    assert by_version.json()["PipelineId"] == published.id
    missing = _post(f"{endpoint.endpoint}/9", admin, {})
    assert missing.status_code == 404
    assert "versions: 0, 1" in missing.text
    _wait(server, by_default.json()["Id"])
    _wait(server, by_version.json()["Id"])


def _form(dag_id: str) -> str:
    return f"document.querySelector('form.edit[data-dag=\"{dag_id}\"]')"


def _submit(browser: Browser, schedule: str, action: str) -> str:
    form = _form(DAG_ID)
    browser.evaluate(
        f"(() => {{ const f = {form}; f.querySelector('input[name=schedule]').value = {json.dumps(schedule)};"
        f" f.querySelector('button[value={action}]').click(); }})()"
    )
    time.sleep(0.5)
    browser.wait_for("document.readyState === 'complete' && document.querySelector('form.edit')")
    return str(browser.evaluate(f"document.querySelector('tr[data-dag=\"{DAG_ID}\"]').innerText"))


def test_change_the_schedule_in_the_page_and_read_it_back_over_rest(
    server: AirflowServer, tmp_path: Path
) -> None:
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (bash .ci/system-deps installs it)")
    page = f"{server.base_url}/mlpipelines/schedules"
    with Browser(tmp_path / "profile") as browser:
        browser.set_cookie(server.base_url, "_token", _token(server, "viewer"))
        browser.open(page)
        browser.wait_for("document.readyState === 'complete'")
        text = browser.evaluate("document.body.innerText")
        assert DAG_ID in text, text
        assert browser.evaluate(_form(DAG_ID)) is None  # a viewer gets no form
        assert "view only" in browser.evaluate("document.body.innerText")

        browser.set_cookie(server.base_url, "_token", _token(server, "admin"))
        browser.open(page)
        browser.wait_for(_form(DAG_ID))
        row = _submit(browser, "61 * * * *", "preview")
        assert "61 * * * *" in row
        assert "not one Airflow accepts" in row
        row = _submit(browser, "30 6 * * *", "preview")
        times = browser.evaluate(
            "Array.from(document.querySelectorAll('ol.preview li')).map(li => li.innerText)"
        )
        assert len(times) == 5
        assert all(t.endswith("06:30 UTC") for t in times), times
        row = _submit(
            browser, "{frequency: Week, interval: 3, week_days: [Monday], time_of_day: '07:00'}", "preview"
        )
        times = browser.evaluate(
            "Array.from(document.querySelectorAll('ol.preview li')).map(li => li.innerText)"
        )
        assert len(times) == 5, row
        days = [datetime.strptime(t, "%Y-%m-%d %H:%M UTC") for t in times]
        assert all(d.weekday() == 0 and (d.hour, d.minute) == (7, 0) for d in days), times
        assert all((b - a).days == 21 for a, b in itertools.pairwise(days)), times
        row = _submit(browser, "{frequency: Day, interval: 2, hourz: [6]}", "preview")
        assert "hourz" in row
        assert "did you mean" in row.lower() or "hours" in row, row
        row = _submit(browser, "30 6 * * *", "save")
        assert "Saved by admin" in row
        browser.screenshot(tmp_path / "schedules-page.png")

    def parsed() -> dict[str, Any] | None:
        dag = server.get(f"/api/v2/dags/{DAG_ID}").json()
        scheduled = dag.get("timetable_summary") == "30 6 * * *" and dag.get("next_dagrun_run_after")
        return dag if scheduled else None

    dag = server.poll("the new schedule in the DAG", parsed, timeout=120)
    assert str(dag["next_dagrun_run_after"]).endswith("06:30:00Z"), dag

    def documented() -> str | None:
        # The API server revalidates its cached DAG after [core] min_serialized_dag_update_interval.
        doc = server.get(f"/api/v2/dags/{DAG_ID}/details").json().get("doc_md") or ""
        return doc if "Schedule set outside the definition" in doc else None

    doc = server.poll("the DAG's docs naming who set the schedule", documented, timeout=120)
    assert "`30 6 * * *`, by admin at" in doc
    stored = server.get(f"/mlpipelines/api/schedules/{DAG_ID}").json()
    assert stored["Schedule"] == "30 6 * * *"
    assert stored["ChangedBy"] == "admin"


def _summary(server: AirflowServer, wanted: str) -> dict[str, Any]:
    def parsed() -> dict[str, Any] | None:
        dag = server.get(f"/api/v2/dags/{DAG_ID}").json()
        return dag if wanted in str(dag.get("timetable_summary")) else None

    return server.poll(f"timetable summary {wanted!r}", parsed, timeout=120)


def test_schedule_create_by_recurrence_then_on_new_files(server: AirflowServer, workspace: Any) -> None:
    (published,) = [p for p in PublishedPipeline.list(workspace) if p.version == "1.0"]
    recurrence = ScheduleRecurrence(
        frequency="Day", interval=2, hours=[6], minutes=[15], time_zone="W. Europe Standard Time"
    )
    schedule = Schedule.create(
        workspace, "every-other-morning", published.id, "retrain", recurrence=recurrence,
        pipeline_parameters={"alpha": 0.9},
    )  # fmt: skip
    assert schedule.status == "Active"
    assert schedule.recurrence == {"frequency": "Day", "interval": 2, "hours": [6], "minutes": [15],
                                   "time_zone": "W. Europe Standard Time"}  # fmt: skip
    dag = _summary(server, "every 2 days at 06:15")
    assert dag["next_dagrun_run_after"] is not None

    def defaults() -> dict[str, Any] | None:  # the API server's DAG cache is revalidated after ~30 s
        details: dict[str, Any] = server.get(f"/api/v2/dags/{DAG_ID}/details").json()
        return details if details["params"]["alpha"]["value"] == 0.9 else None

    server.poll("the scheduled runs' parameter default", defaults, timeout=120)
    assert [s.name for s in Schedule.list(workspace)] == ["every-other-morning"]
    assert Schedule.get(workspace, schedule.id).pipeline_id == published.id
    with pytest.raises(SubmitError, match="already has schedule 'every-other-morning'"):
        Schedule.create(workspace, "another", published.id, "x", recurrence=recurrence)

    # The same schedule, now data-triggered: a new file under the datastore path starts a run with its path.
    schedule.update(
        datastore="inbox", path_on_datastore="", polling_interval=0.05, data_path_parameter_name="label"
    )
    assert schedule.datastore_name == "inbox"
    before = {r["dag_run_id"] for r in server.get(f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]}
    _summary(server, "Asset")
    time.sleep(8)  # the watcher's first poll sets its baseline on the triggerer
    (Path(server.dags_folder) / "inbox" / "batch-1.csv").write_text("a,b\n1,2\n")

    def started() -> dict[str, Any] | None:
        runs = server.get(f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in before and r["run_type"] == "asset_triggered"]
        return new[0] if new else None

    run = server.poll("a run started by the new file", started, timeout=180)
    _wait(server, run["dag_run_id"])
    assert "batch-1.csv" in server.task_log(DAG_ID, run["dag_run_id"], "train.run")

    schedule.disable()
    assert schedule.status == "Disabled"
    _summary(server, "None")


def test_a_published_pipeline_whose_definition_changed_is_not_run_silently(
    server: AirflowServer, workspace: Any
) -> None:
    published = PublishedPipeline.list(workspace)[0]
    definition = Path(server.dags_folder) / f"{DAG_ID}.yaml"
    definition.write_text(DEFINITION.replace("One step that", "A step that"))

    def changed() -> bool | None:
        doc = server.get(f"/api/v2/dags/{DAG_ID}/details").json().get("doc_md") or ""
        return True if "A step that" in doc else None

    server.poll("the changed definition parsed", changed, timeout=120)
    response = _post(published.endpoint, _token(server, "admin"), {})
    assert response.status_code == 409
    assert "publish it again" in response.text
    with pytest.raises(SubmitError, match="409"):
        published.submit(workspace, "nightly")
