"""The FastAPI app the plugin mounts on Airflow's API server: step output pages and their PNGs.

Airflow mounts a plugin's FastAPI app as it is, without its own authentication, so every route here
depends on Airflow's ``requires_access_dag`` (the ``_token`` cookie the UI holds, or a Bearer JWT): an
anonymous request gets 401, a user who may not read the DAG's XComs 403. No OpenAPI or docs routes.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

# FastAPI reads the route annotations at run time, so SessionDep cannot move under TYPE_CHECKING.
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse, Response

from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.plugins import page
from airflow_mlpipelines.plugins.step_outputs import (
    dag_run_ids,
    describe_output,
    image_bytes,
    published_steps,
    read_record,
    record_image,
    step_of,
)

_HEADERS = page.headers()

Segment = Annotated[str, Path(min_length=1, max_length=512)]


def _root(request: Request) -> str:
    """Where this app is mounted (``/mlpipelines`` below any ``[api] base_url`` path)."""
    return page.mount_root(request.scope)


def _html(body: str, status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=_HEADERS)


def _step_page(
    request: Request, session: SessionDep, dag_id: str, run_id: str, step: str | None
) -> HTMLResponse:
    storage = AirflowStorage()
    steps = published_steps(session, dag_id, run_id, step, storage)
    title = f"Outputs of step {step}" if step is not None else f"Outputs of {dag_id}"
    if not steps:
        what = f"step {step!r}" if step is not None else "any mlpipelines step"
        text = f"No outputs published by {what} in run {run_id!r} of DAG {dag_id!r} (yet)."
        return _html(page.message(title, text), status.HTTP_404_NOT_FOUND)
    views = [
        (p, [describe_output(name, url, storage) for name, url in sorted(p.outputs.items())]) for p in steps
    ]
    records = {p.step: r for p in steps if (r := read_record(p, storage)) is not None}
    return _html(page.render(_root(request), dag_id, run_id, views, title, records))


router = APIRouter(
    dependencies=[Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.XCOM))]
)


@router.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse)
def run_outputs(request: Request, session: SessionDep, dag_id: Segment, run_id: Segment) -> HTMLResponse:
    """Every step of one DAG run."""
    return _step_page(request, session, dag_id, run_id, None)


@router.get("/dags/{dag_id}/runs/{run_id}/steps/{step}", response_class=HTMLResponse)
def step_outputs(
    request: Request, session: SessionDep, dag_id: Segment, run_id: Segment, step: Segment
) -> HTMLResponse:
    """One step of one DAG run (the operator extra link opens this)."""
    return _step_page(request, session, dag_id, run_id, step)


@router.get("/dags/{dag_id}/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_outputs(
    request: Request, session: SessionDep, dag_id: Segment, run_id: Segment, task_id: Segment
) -> HTMLResponse:
    """The step of a task instance (the task-instance tab of the UI opens this)."""
    return _step_page(request, session, dag_id, run_id, step_of(task_id))


@router.get("/dags/{dag_id}/runs/{run_id}/steps/{step}/files/{output}/{name}", response_class=Response)
def step_file(
    request: Request,
    session: SessionDep,
    dag_id: Segment,
    run_id: Segment,
    step: Segment,
    output: Segment,
    name: Segment,
) -> Response:
    """One PNG of a step's output, only if the output folder's listing shows it as a servable PNG.

    Read through the storage layer (local disk or object storage, with the API server's connections).
    """
    storage = AirflowStorage()
    for published in published_steps(session, dag_id, run_id, step, storage):
        data = image_bytes(published, output, name, storage)
        if data is not None:
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            # Revalidated on every view, so a logged-out browser never shows a cached figure.
            headers = {**_HEADERS, "Cache-Control": "private, no-cache", "ETag": etag}
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
            return Response(data, media_type="image/png", headers=headers)
    raise HTTPException(status.HTTP_404_NOT_FOUND, "no such PNG in this step's outputs")


@router.get("/dags/{dag_id}/runs/{run_id}/steps/{step}/record/{name}", response_class=Response)
def record_file(
    session: SessionDep, dag_id: Segment, run_id: Segment, step: Segment, name: Segment
) -> Response:
    """A PNG the step's script logged with ``run.log_image`` (only names its run record lists)."""
    steps = published_steps(session, dag_id, run_id, step, AirflowStorage())
    data = record_image(steps[0], name) if steps else None
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no logged image {name!r} of step {step!r}")
    return Response(data, media_type="image/png", headers=_HEADERS)


@router.get("/dags/{dag_id}/metrics", response_class=HTMLResponse)
def pipeline_metrics(session: SessionDep, dag_id: Segment, metric: str | None = None) -> HTMLResponse:
    """One metric across the pipeline's latest runs: each step's latest value, as a table and a chart."""
    storage = AirflowStorage()
    rows = []
    for run_id in dag_run_ids(session, dag_id):
        for published in published_steps(session, dag_id, run_id, None, storage):
            record = read_record(published, storage)
            if record and record.get("latest"):
                rows.append((run_id, published.step, dict(record["latest"])))
    return _html(page.metrics_page(dag_id, rows, metric))


code_router = APIRouter(
    dependencies=[Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.CODE))]
)


def definition_in(doc_md: str | None) -> tuple[str | None, str] | None:
    """(definition path, text) from a pipeline DAG's docs (the block the DAG factory writes), else None."""
    from airflow_mlpipelines.dag_factory.render import DEFINITION_MARKER

    if not doc_md or DEFINITION_MARKER not in doc_md:
        return None
    head, _, block = doc_md.partition(DEFINITION_MARKER)
    path = None
    for line in head.splitlines():
        if line.startswith("Definition: `") and line.endswith("`"):
            path = line[len("Definition: `") : -1]
    lines = block.strip("\n").splitlines()
    if len(lines) < 2:
        return None
    fence = lines[0][: len(lines[0]) - len(lines[0].lstrip("`"))]
    body = lines[1:]
    if body and body[-1].strip() == fence:
        body = body[:-1]
    return path, "\n".join(body) + "\n"


@code_router.get("/dags/{dag_id}/definition", response_class=HTMLResponse)
def pipeline_definition(session: SessionDep, dag_id: Segment) -> HTMLResponse:
    """The definition file (YAML or Python) the DAG was built from, as the DAG processor read it."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id, session=session)
    found = definition_in(getattr(dag, "doc_md", None)) if dag is not None else None
    if found is None:
        title = f"Definition of {dag_id}"
        text = f"DAG {dag_id!r} is not a pipeline built from a definition file (or is not parsed yet)."
        return _html(page.message(title, text), status.HTTP_404_NOT_FOUND)
    path, text = found
    return _html(page.definition(dag_id, path, text))


def create_app() -> FastAPI:
    """The app, without OpenAPI or docs routes (they would be reachable without authentication)."""
    from airflow_mlpipelines.plugins import operations_app, schedules_page

    app = FastAPI(title="mlpipelines", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    app.include_router(code_router)
    app.include_router(operations_app.runs)
    app.include_router(operations_app.api)
    app.include_router(schedules_page.router)
    return app
