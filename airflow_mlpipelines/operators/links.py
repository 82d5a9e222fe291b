"""Where a step's outputs page lives (the UI plugin serves it) and the extra link a step's tasks show."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from airflow_mlpipelines import settings

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

URL_PREFIX = "/mlpipelines"
"""Where the plugin's FastAPI app is mounted on the API server (below ``[api] base_url``)."""


def _q(segment: str) -> str:
    # Run ids hold ':' and '+' (manual__2026-01-01T00:00:00+00:00): quote everything but unreserved.
    return quote(segment, safe="")


def run_page_path(dag_id: str, run_id: str) -> str:
    """Path of the page showing every step of one DAG run."""
    return f"{settings.api_base_path()}{URL_PREFIX}/dags/{_q(dag_id)}/runs/{_q(run_id)}"


def step_page_path(dag_id: str, run_id: str, step: str) -> str:
    """Path of the page showing one step's PNGs and DataFrame previews in one DAG run."""
    return f"{run_page_path(dag_id, run_id)}/steps/{_q(step)}"


class StepOutputsLink(BaseOperatorLink):
    """The "Step outputs" button on a step's tasks: opens the plugin page with its plots and frames.

    Airflow 3 computes an operator's own links in the worker when the task finishes and stores them in
    XCom; the API server shows them from there (the class is also registered by the plugin).
    """

    name = "Step outputs"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The step page of this task's step in this task's run."""
        step = getattr(operator, "step", None) or operator.task_id.rsplit(".", 1)[0]
        return step_page_path(ti_key.dag_id, ti_key.run_id, str(step))


class MLflowRunLink(BaseOperatorLink):
    """The "MLflow run" button: the MLflow run a step execution was logged as (``metrics_backend =
    mlflow``); empty when it was not."""

    name = "MLflow run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The run's page in the MLflow UI (computed on the worker right after the task ran)."""
        return str(getattr(operator, "mlflow_run_url", None) or "")
