"""The UI plugin on Airflow's own API app (``create_app``): pages, PNGs, auth, traversal, escaping.

The steps run with ``dag.test()`` on the session's SQLite database; the pages are then requested through
the API server's FastAPI app, with the plugin mounted from its ``airflow.plugins`` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_mlpipelines.cli import STUB_TEMPLATE

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_COLUMN = "<img src=x onerror=alert(1)>"
HOSTILE_PNG = 'a<b>&"c.png'

HOSTILE_YAML = """\
name: ui_hostile
steps:
  - name: hostile
    script: hostile.py
    source_directory: src
    arguments: [{output: out}]
    outputs: [out]
"""
# Writes names a page must escape, and files the plugin must not serve (not a PNG, a link, a subfolder).
HOSTILE_SCRIPT = f"""\
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from airflow_mlpipelines.frames import codec

out = sys.argv[1]
frame = pd.DataFrame({{{HOSTILE_COLUMN!r}: ["<b>bold</b>", "x"], "blob": [b"\\x80\\x03pickle", b""]}})
codec.write(frame, os.path.join(out, "data.parquet"), "parquet")
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([1, 2, 3])
fig.savefig(os.path.join(out, {HOSTILE_PNG!r}))
open(os.path.join(out, "fake.png"), "w").write("not a png")
open(os.path.join(out, "notes.txt"), "w").write("text")
os.mkdir(os.path.join(out, "sub"))
fig.savefig(os.path.join(out, "sub", "nested.png"))
fig.savefig(os.path.join(os.path.dirname(__file__), "outside.png"))
os.symlink(os.path.join(os.path.dirname(__file__), "outside.png"), os.path.join(out, "link.png"))
"""


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _run(folder: Path, dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test()
    assert run.state == "success", _states(run)
    return run


@pytest.fixture(scope="module")
def report_run(examples_dags: Path) -> Any:
    """One run of the plots_report example (a PythonScriptStep writing two PNGs and a data.parquet)."""
    return _run(examples_dags, "plots_report")


@pytest.fixture(scope="module")
def hostile_runs(airflow_home: Path) -> tuple[Any, Any]:
    """Two runs of a step with hostile names: the first computes it, the second reuses it."""
    folder = airflow_home / "scratch" / "ui_hostile"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "src").mkdir(parents=True)
    (folder / "ui_hostile.yaml").write_text(HOSTILE_YAML)
    (folder / "ui_hostile.py").write_text(STUB_TEMPLATE.format(definition="ui_hostile.yaml"))
    (folder / "src" / "hostile.py").write_text(HOSTILE_SCRIPT)
    (folder / ".amlignore").write_text("outside.png\n")
    (folder / "src" / ".amlignore").write_text("outside.png\n")
    first = _run(folder, "ui_hostile")
    second = _run(folder, "ui_hostile")
    assert _states(second)["hostile.run"] == "skipped"  # reused: published by hostile.reuse
    return first, second


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Airflow's API app (core: public API, UI, auth manager, plugins) under a test client, not logged in."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    with TestClient(create_app(apps="core")) as test_client:
        yield test_client
    purge_cached_app()


@pytest.fixture(scope="module")
def auth(client: Any, airflow_home: Path) -> dict[str, str]:
    """A Bearer header for the admin of the simple auth manager (``POST /auth/token``)."""
    passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    username, password = next(iter(passwords.items()))
    response = client.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _step_url(run: Any, step: str) -> str:
    return f"/mlpipelines/dags/{run.dag_id}/runs/{_q(run.run_id)}/steps/{step}"


def _img_srcs(html: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "img":
                found.append(dict(attrs)["src"] or "")

    Images().feed(html)
    return found


class TestAuthentication:
    def test_anonymous_requests_get_401(self, client: Any, report_run: Any) -> None:
        page = _step_url(report_run, "report")
        for url in (page, f"{page}/files/figures/petals.png", "/mlpipelines/dags/plots_report/runs/x"):
            response = client.get(url)
            assert response.status_code == 401, (url, response.status_code)
            assert "petal" not in response.text

    def test_an_invalid_token_gets_403(self, client: Any, report_run: Any) -> None:
        response = client.get(_step_url(report_run, "report"), headers={"Authorization": "Bearer nonsense"})
        assert response.status_code == 403

    def test_the_ui_cookie_is_accepted(self, client: Any, report_run: Any, auth: dict[str, str]) -> None:
        token = auth["Authorization"].removeprefix("Bearer ")
        response = client.get(_step_url(report_run, "report"), headers={"Cookie": f"_token={token}"})
        assert response.status_code == 200

    def test_no_openapi_or_docs_routes(self, client: Any, auth: dict[str, str]) -> None:
        for url in ("/mlpipelines/openapi.json", "/mlpipelines/docs"):
            assert client.get(url, headers=auth).status_code == 404


class TestStepPage:
    def test_every_png_and_the_frame_preview(
        self, client: Any, report_run: Any, auth: dict[str, str]
    ) -> None:
        response = client.get(_step_url(report_run, "report"), headers=auth)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        html = response.text
        srcs = _img_srcs(html)
        assert [s.rsplit("/", 2)[-2:] for s in srcs] == [
            ["figures", "petals.png"],
            ["figures", "sepal_length.png"],
        ]
        assert "3 rows × 9 columns" in html
        for column in ("label", "petal_length_mean", "sepal_width_std"):
            assert f"<td>{column}</td>" in html
            assert f"<th>{column}</th>" in html
        assert "computed in this run" in html
        for src in srcs:
            image = client.get(src, headers=auth)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/png"
            assert image.content.startswith(PNG_SIGNATURE)

    def test_served_bytes_are_the_files(self, client: Any, report_run: Any, auth: dict[str, str]) -> None:
        from airflow.utils.session import create_session

        from airflow_mlpipelines.plugins.step_outputs import published_steps

        with create_session() as session:
            (published,) = published_steps(session, "plots_report", report_run.run_id, "report")
        folder = Path(published.outputs["figures"])
        for name in ("petals.png", "sepal_length.png"):
            response = client.get(f"{_step_url(report_run, 'report')}/files/figures/{name}", headers=auth)
            assert response.content == (folder / name).read_bytes()

    def test_task_instance_and_run_pages(self, client: Any, report_run: Any, auth: dict[str, str]) -> None:
        base = f"/mlpipelines/dags/plots_report/runs/{_q(report_run.run_id)}"
        step_html = client.get(f"{base}/steps/report", headers=auth).text
        for task in ("report.run", "report.reuse"):
            response = client.get(f"{base}/tasks/{task}", headers=auth)
            assert response.status_code == 200
            assert _img_srcs(response.text) == _img_srcs(step_html)
        run_page = client.get(base, headers=auth)
        assert run_page.status_code == 200
        assert "Step <code>report</code>" in run_page.text

    def test_the_definition_page_shows_the_file_the_dag_was_built_from(
        self, client: Any, report_run: Any, auth: dict[str, str], examples_dags: Path
    ) -> None:
        from html import unescape

        response = client.get("/mlpipelines/dags/plots_report/definition", headers=auth)
        assert response.status_code == 200
        definition = examples_dags / "definitions" / "plots_report.yaml"
        assert f"<code>{definition}</code>" in response.text
        shown = unescape(response.text.split('<pre class="definition">', 1)[1].split("</pre>", 1)[0])
        assert shown == definition.read_text()
        assert client.get("/mlpipelines/dags/plots_report/definition").status_code == 401
        assert client.get("/mlpipelines/dags/no_such_dag/definition", headers=auth).status_code in (403, 404)

    def test_unknown_step_or_run_is_404(self, client: Any, report_run: Any, auth: dict[str, str]) -> None:
        base = f"/mlpipelines/dags/plots_report/runs/{_q(report_run.run_id)}"
        assert client.get(f"{base}/steps/nope", headers=auth).status_code == 404
        assert client.get(f"{base}/tasks/nope.run", headers=auth).status_code == 404
        assert client.get("/mlpipelines/dags/plots_report/runs/nope", headers=auth).status_code == 404


class TestOnlyListedPngsAreServed:
    @pytest.mark.parametrize(
        ("output", "name"),
        [
            ("figures", "..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
            ("figures", "..%2Fsummary%2Fdata.parquet"),
            ("figures", "%2Fetc%2Fpasswd"),
            ("..", "petals.png"),
            ("summary", "data.parquet"),
            ("nope", "petals.png"),
            ("figures", "missing.png"),
            ("figures", "petals.PNG.txt"),
        ],
    )
    def test_report(self, client: Any, report_run: Any, auth: dict[str, str], output: str, name: str) -> None:
        response = client.get(f"{_step_url(report_run, 'report')}/files/{output}/{name}", headers=auth)
        assert response.status_code == 404, response.text
        assert not response.content.startswith(PNG_SIGNATURE)

    @pytest.mark.parametrize("name", ["fake.png", "link.png", "notes.txt", "sub%2Fnested.png", "sub"])
    def test_not_a_png_a_link_or_a_subfolder(
        self, client: Any, hostile_runs: tuple[Any, Any], auth: dict[str, str], name: str
    ) -> None:
        first, _ = hostile_runs
        response = client.get(f"{_step_url(first, 'hostile')}/files/out/{name}", headers=auth)
        assert response.status_code == 404


class TestEscaping:
    def test_names_are_escaped_and_bytes_never_decoded(
        self, client: Any, hostile_runs: tuple[Any, Any], auth: dict[str, str]
    ) -> None:
        first, _ = hostile_runs
        html = client.get(_step_url(first, "hostile"), headers=auth).text
        assert HOSTILE_COLUMN not in html
        assert "<b>" not in html
        assert HOSTILE_PNG not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "&lt;b&gt;bold&lt;/b&gt;" in html
        assert "a&lt;b&gt;&amp;&quot;c.png" in html
        assert "&lt;8 bytes&gt;" in html
        assert "pickle" not in html
        assert "fake.png: not shown: the file is not a PNG image" in html
        assert "link.png" not in html
        assert "nested.png" not in html
        (src,) = _img_srcs(html)
        assert src.endswith("/files/out/" + _q(HOSTILE_PNG))
        image = client.get(src, headers=auth)
        assert image.status_code == 200
        assert image.content.startswith(PNG_SIGNATURE)

    def test_a_reused_step_shows_its_stored_outputs(
        self, client: Any, hostile_runs: tuple[Any, Any], auth: dict[str, str]
    ) -> None:
        first, second = hostile_runs
        html = client.get(_step_url(second, "hostile"), headers=auth).text
        assert "reused from an earlier run" in html
        assert "hostile.reuse" in html
        (src,) = _img_srcs(html)
        assert f"/runs/{_q(second.run_id)}/" in src
        assert client.get(src, headers=auth).content.startswith(PNG_SIGNATURE)
        assert first.run_id != second.run_id


class TestRegistration:
    def test_plugin_views_and_links_are_registered(self, client: Any, auth: dict[str, str]) -> None:
        plugins = client.get("/api/v2/plugins", headers=auth).json()["plugins"]
        (ours,) = [p for p in plugins if p["name"] == "mlpipelines"]
        assert [a["url_prefix"] for a in ours["fastapi_apps"]] == ["/mlpipelines"]
        views = sorted((v["destination"], v["href"]) for v in ours["external_views"])
        assert views == [
            ("dag", "/mlpipelines/dags/{DAG_ID}/definition"),
            ("dag", "/mlpipelines/dags/{DAG_ID}/metrics"),
            ("dag_run", "/mlpipelines/dags/{DAG_ID}/runs/{RUN_ID}"),
            ("nav", "/mlpipelines/schedules"),
            ("task_instance", "/mlpipelines/dags/{DAG_ID}/runs/{RUN_ID}/tasks/{TASK_ID}"),
        ]
        assert ours["operator_extra_links"] == [
            "<airflow_mlpipelines.operators.links.StepOutputsLink object>",
            "<airflow_mlpipelines.operators.links.MLflowRunLink object>",
        ]

    def test_step_tasks_carry_the_extra_link(
        self, client: Any, report_run: Any, auth: dict[str, str]
    ) -> None:
        url = f"/api/v2/dags/plots_report/dagRuns/{_q(report_run.run_id)}/taskInstances/report.run/links"
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.text
        # No MLflow backend configured here: the MLflow link has no target.
        assert response.json()["extra_links"] == {
            "Step outputs": _step_url(report_run, "report"),
            "MLflow run": None,
        }


def test_outputs_folder_listing_ignores_what_it_cannot_read(tmp_path: Path) -> None:
    from airflow_mlpipelines.plugins.step_outputs import list_images

    assert list_images(str(tmp_path / "missing")) == []
    os.mkfifo(tmp_path / "pipe.png")
    assert list_images(str(tmp_path)) == []


METRICS_YAML = """\
name: ui_metrics
parameters:
  lr: 0.1
steps:
  - name: fit
    script: fit.py
    source_directory: src
    arguments: ["${{parameters.lr}}"]
"""
METRICS_SCRIPT = """\
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from airflow_mlpipelines.core import Run

run = Run.get_context()
lr = float(sys.argv[1])
for epoch in range(3):
    run.log("accuracy", 0.5 + lr * epoch)
run.tag("lr", lr)
plt.plot([1, 2, 3])
run.log_image("<b>curve</b>", plot=plt)
"""


@pytest.fixture(scope="module")
def metric_runs(airflow_home: Path) -> list[Any]:
    """Two runs of a step that logs metrics, an image and a tag, with different parameters."""
    from airflow.dag_processing.dagbag import DagBag

    folder = airflow_home / "scratch" / "ui_metrics"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "src").mkdir(parents=True)
    (folder / "ui_metrics.yaml").write_text(METRICS_YAML)
    (folder / "ui_metrics.py").write_text(STUB_TEMPLATE.format(definition="ui_metrics.yaml"))
    (folder / "src" / "fit.py").write_text(METRICS_SCRIPT)
    dag = DagBag(str(folder)).dags["ui_metrics"]
    runs = [dag.test(run_conf={"lr": lr}) for lr in (0.1, 0.2)]
    assert [r.state for r in runs] == ["success", "success"]
    return runs


class TestRunRecords:
    def test_the_step_page_shows_metrics_tags_and_logged_images(
        self, client: Any, metric_runs: list[Any], auth: dict[str, str]
    ) -> None:
        html = client.get(_step_url(metric_runs[1], "fit"), headers=auth).text
        assert "<td>accuracy</td><td>0.9</td><td>3</td><td>[0.5, 0.7, 0.9]</td>" in html
        assert "<td>lr</td><td>0.2</td>" in html
        assert "&lt;b&gt;curve&lt;/b&gt;" in html  # a logged name is escaped
        (src,) = [s for s in _img_srcs(html) if "/record/" in s]
        response = client.get(src, headers=auth)
        assert response.status_code == 200
        assert response.content.startswith(PNG_SIGNATURE)
        assert client.get(src.replace("record/", "record/x"), headers=auth).status_code == 404
        assert client.get(src).status_code == 401

    def test_the_pipeline_page_compares_a_metric_across_runs(
        self, client: Any, metric_runs: list[Any], auth: dict[str, str]
    ) -> None:
        response = client.get("/mlpipelines/dags/ui_metrics/metrics?metric=accuracy", headers=auth)
        assert response.status_code == 200
        html = response.text
        for run in metric_runs:
            assert run.run_id in html
        assert "<td>fit</td><td>0.7</td>" in html  # the first run's latest value
        assert "<td>fit</td><td>0.9</td>" in html
        assert html.count("<circle") == 2
        assert "<svg" in html
        assert client.get("/mlpipelines/dags/ui_metrics/metrics").status_code == 401
