"""A person's check of the UI plugin: run the plots example over REST, open its outputs in headless Chromium.

Logged in as the UI is (the simple auth manager's ``_token`` cookie), the step page opened from the task's
"Step outputs" extra link shows every PNG loaded (natural width > 0) and the DataFrame preview; the same
page inside Airflow's task-instance tab (an iframe of the React UI) does too; without the cookie the
browser gets 401 and no image. Screenshots go to the test's tmp dir, and to ``$MLP_SCREENSHOT_DIR`` if set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.browser import Browser, chromium_binary
from tests.e2e.harness import AirflowServer

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DAG_ID = "plots_report"
FIGURES = ["petals.png", "sepal_length.png"]

# Images of the document (or of the plugin's iframe), once every one has finished loading; else null.
_IMAGES = """(() => {{
  const doc = {document};
  if (!doc || doc.readyState !== 'complete') return null;
  const images = Array.from(doc.images);
  if (!images.length || !images.every(i => i.complete)) return null;
  return images.map(i => ({{src: i.getAttribute('src'), width: i.naturalWidth, height: i.naturalHeight}}));
}})()"""
PAGE_IMAGES = _IMAGES.format(document="document")
FRAME = "document.querySelector('iframe[title=\"Step outputs\"]')"
FRAME_IMAGES = _IMAGES.format(document=f"({FRAME} || {{}}).contentDocument")


def _keep(shot: Path) -> None:
    target = os.environ.get("MLP_SCREENSHOT_DIR")
    if target:
        shutil.copy(shot, Path(target) / shot.name)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, airflow_server_factory: Any) -> AirflowServer:
    dags = tmp_path_factory.mktemp("ui-e2e") / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    started: AirflowServer = airflow_server_factory(
        dags, {"AIRFLOW__CORE__XCOM_BACKEND": "airflow_mlpipelines.xcom.backend.DataFrameXComBackend"}
    )
    started.wait_for_dags([DAG_ID])
    started.unpause(DAG_ID)
    return started


def _check_figures(images: list[dict[str, Any]]) -> None:
    assert sorted(i["src"].rsplit("/", 1)[-1] for i in images) == FIGURES, images
    assert all(i["width"] > 0 and i["height"] > 0 for i in images), images


def test_step_outputs_in_chromium(server: AirflowServer, tmp_path: Path) -> None:
    if chromium_binary() is None:
        pytest.skip("chromium is not installed (bash .ci/system-deps installs it)")
    run = server.trigger_and_wait(DAG_ID)
    run_id = run["dag_run_id"]
    assert run["state"] == "success", server.task_instances(DAG_ID, run_id)
    links = server.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/report.run/links"
    )
    link = links.json()["extra_links"]["Step outputs"]
    assert link == f"/mlpipelines/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/steps/report"
    token = str(server.client.headers["Authorization"]).removeprefix("Bearer ")

    with Browser(tmp_path / "profile") as browser:
        # The page the extra link opens.
        browser.set_cookie(server.base_url, "_token", token)
        browser.open(server.base_url + link)
        _check_figures(browser.wait_for(PAGE_IMAGES))
        text = browser.evaluate("document.body.innerText")
        assert "3 rows × 9 columns" in text
        assert "petal_length_mean" in text
        _keep(browser.screenshot(tmp_path / "ui-step-page.png"))

        # The same page in the React UI: the task instance's "Step outputs" tab (an iframe).
        # (The address as the UI itself writes it: the run id unencoded, ':' and '+' are fine in a path.)
        tab = f"/dags/{DAG_ID}/runs/{run_id}/tasks/report.run/plugin/mlpipelines-step-outputs"
        browser.open(server.base_url + tab)
        _check_figures(browser.wait_for(FRAME_IMAGES, timeout=120))
        # Let the React UI finish loading the task instance around the tab before the screenshot.
        browser.wait_for("document.body.innerText.includes('PythonScriptStepOperator')", timeout=60)
        assert "No Task Instance found" not in browser.evaluate("document.body.innerText")
        shot = browser.screenshot(tmp_path / "ui-screenshot.png")
        assert shot.stat().st_size > 10_000
        _keep(shot)

        # The pipeline's metrics across its runs (the script logs through Run.get_context()).
        browser.open(f"{server.base_url}/mlpipelines/dags/{DAG_ID}/metrics?metric=rows")
        assert browser.wait_for("document.querySelectorAll('svg.chart circle').length") == 1
        text = browser.evaluate("document.body.innerText")
        assert "labels" in text
        assert run_id in text
        _keep(browser.screenshot(tmp_path / "ui-metrics.png"))
        browser.open(server.base_url + link)
        assert "Run " in browser.evaluate("document.body.innerText")
        assert "rows" in browser.evaluate("document.querySelector('table.metrics').innerText")

        # Logged out: the page is refused and no figure loads.
        browser.call("Network.clearBrowserCookies")
        browser.open(server.base_url + link)
        assert "Not authenticated" in browser.evaluate("document.body.innerText")
        assert browser.evaluate("document.images.length") == 0
        image = server.base_url + link + "/files/figures/petals.png"
        browser.open(image)
        assert browser.evaluate("document.images.length && document.images[0].naturalWidth") in (0, None)
