"""``MLPipelinesPlugin``: step output pages (PNGs, DataFrame previews) in the Airflow 3 UI.

Registered through the ``airflow.plugins`` entry point. Airflow loads plugins in every component
(scheduler, DAG processor, workers), so this module imports little: the page's FastAPI app, with its
database and auth imports, is built on the API server's first request to it.

In the DAG processor, plugins are loaded in the parent process before it forks one child per DAG file
(``Job()`` collects listener plugins), so :meth:`MLPipelinesPlugin.on_load` imports the DAG factory
there: every stub's fork then inherits it instead of importing it again.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from airflow.plugins_manager import AirflowPlugin

from airflow_mlpipelines import settings
from airflow_mlpipelines.operators.links import URL_PREFIX, MLflowRunLink, StepOutputsLink
from airflow_mlpipelines.timetables.recurrence import RecurrenceTimetable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from fastapi import FastAPI

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]


log = logging.getLogger(__name__)

DAG_PROCESSOR_MODULE = "airflow.dag_processing.manager"
"""Imported by ``airflow dag-processor`` before it loads plugins; no other component imports it."""


def preload_dag_factory() -> None:
    """Import the DAG factory in the DAG processor's parent, so that its forks do not import it anew.

    A no-op in other components. A failure is only logged: the stubs then raise it as their import error.
    """
    if DAG_PROCESSOR_MODULE not in sys.modules:
        return
    try:
        import airflow_mlpipelines.dag_factory  # noqa: F401
    except Exception:
        log.warning("Could not pre-import airflow_mlpipelines.dag_factory", exc_info=True)


class LazyOutputsApp:
    """An ASGI app that builds :func:`outputs_app.create_app` on its first request, then delegates."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        """Serve one ASGI request (lifespan messages are not forwarded to mounted apps by Starlette)."""
        if self._app is None:
            from airflow_mlpipelines.plugins.outputs_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


def _external_views() -> list[dict[str, Any]]:
    """Tabs in the UI: on a task instance (its step) and on a DAG run (every step); shown in an iframe."""
    base = f"{settings.api_base_path()}{URL_PREFIX}/dags/{{DAG_ID}}/runs/{{RUN_ID}}"
    return [
        {
            "name": "Step outputs",
            "href": f"{base}/tasks/{{TASK_ID}}",
            "destination": "task_instance",
            "url_route": "mlpipelines-step-outputs",
        },
        {
            "name": "Pipeline outputs",
            "href": base,
            "destination": "dag_run",
            "url_route": "mlpipelines-run-outputs",
        },
        {
            "name": "Pipeline metrics",
            "href": f"{settings.api_base_path()}{URL_PREFIX}/dags/{{DAG_ID}}/metrics",
            "destination": "dag",
            "url_route": "mlpipelines-metrics",
        },
        {
            "name": "Pipeline schedules",
            "href": f"{settings.api_base_path()}{URL_PREFIX}/schedules",
            "destination": "nav",
            "url_route": "mlpipelines-schedules",
        },
        {
            "name": "Pipeline definition",
            "href": f"{settings.api_base_path()}{URL_PREFIX}/dags/{{DAG_ID}}/definition",
            "destination": "dag",
            "url_route": "mlpipelines-definition",
        },
    ]


class MLPipelinesPlugin(AirflowPlugin):
    """Pages of step outputs, a task-instance and a DAG-run tab that show them, the step extra link,
    and the timetable of recurrence schedules."""

    name = "mlpipelines"
    fastapi_apps = [  # noqa: RUF012  (Airflow's plugin API is class attributes)
        {"app": LazyOutputsApp(), "url_prefix": URL_PREFIX, "name": "mlpipelines step outputs"}
    ]
    external_views = _external_views()
    operator_extra_links = [StepOutputsLink(), MLflowRunLink()]  # noqa: RUF012
    # The scheduler and API server find a DAG's custom timetable class among the plugins' timetables
    # when they deserialize the DAG (airflow.serialization.helpers.find_registered_custom_timetable).
    timetables = [RecurrenceTimetable]  # noqa: RUF012

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        """Called once when Airflow loads the plugin: pre-import the DAG factory in the DAG processor."""
        preload_dag_factory()
