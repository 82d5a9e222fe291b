"""Published pipelines, pipeline endpoints and schedules on the API server: a JSON API and the run endpoints.

Azure ML's published pipeline was a REST endpoint other systems POST to; here it is a route of this
plugin that accepts Azure ML's request body and starts a DAG run, answering with the run's ``Id``:

- ``POST /mlpipelines/pipelines/{id}`` runs published pipeline ``id``;
- ``POST /mlpipelines/endpoints/{name}`` runs the endpoint's default version, ``.../{name}/{version}``
  that version (or ``PipelineVersion`` in the body);
- ``/mlpipelines/api/...``: what the SDK classes (:mod:`airflow_mlpipelines.published`) call to publish,
  list, disable and schedule.

Airflow mounts plugin apps without authentication, so every route resolves the caller from an Airflow
token (``Authorization: Bearer``, or the UI's ``_token`` cookie: 401 without one) and asks the auth
manager about the DAG the request acts on (403 without the permission): reading needs GET on the DAG,
publishing, disabling and scheduling PUT on the DAG, running POST on its runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

# FastAPI reads the route annotations at run time, so these cannot move under TYPE_CHECKING.
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002
from airflow.api_fastapi.core_api.security import GetUserDep  # noqa: TC002
from fastapi import APIRouter, Body, HTTPException, Request, status
from fastapi.responses import JSONResponse

from airflow_mlpipelines.exceptions import RequestError
from airflow_mlpipelines.pipeline.publishing import (
    EndpointRecord,
    ParamInfo,
    PublishedRecord,
    ScheduleRecord,
    run_request,
)
from airflow_mlpipelines.plugins import page, registry

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.models.dag import DagModel
    from airflow.serialization.definitions.dag import SerializedDAG
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

OptionalBody = Annotated[Any, Body()]
"""Azure ML's run request body (any JSON; checked by :func:`run_request`, so a bad one is a 400 naming it)."""
JsonBody = Annotated[dict[str, Any], Body()]


def now() -> str:
    """The time a record is written, as ISO 8601 in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def authorize(
    user: BaseUser, dag_id: str, method: ResourceMethod, entity: DagAccessEntity | None = None
) -> None:
    """403 unless ``user`` may do ``method`` on DAG ``dag_id`` (its runs when ``entity`` is RUN)."""
    from airflow.models.dag import DagModel

    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    if not get_auth_manager().is_authorized_dag(
        method=method, access_entity=entity, details=details, user=user
    ):
        what = f"{method} on the runs of DAG {dag_id!r}" if entity else f"{method} on DAG {dag_id!r}"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Forbidden: this user may not do {what}")


def readable_dags(user: BaseUser) -> set[str]:
    """The DAG ids ``user`` may read (what lists are filtered by)."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def refuse(exc: RequestError) -> HTTPException:
    """A refused request as the HTTP error the caller sees (its field named in the detail)."""
    detail: dict[str, Any] = {"message": str(exc)}
    if exc.field:
        detail["field"] = exc.field
    return HTTPException(exc.status, detail)


def dag_model(session: Session, dag_id: str) -> DagModel:
    """The DAG's row (404 when Airflow has no such live DAG)."""
    from airflow.models.dag import DagModel
    from sqlalchemy import select

    row: DagModel | None = session.scalar(
        select(DagModel).where(DagModel.dag_id == dag_id, ~DagModel.is_stale)
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Airflow has no DAG {dag_id!r}")
    return row


def latest_dag(session: Session, dag_id: str) -> SerializedDAG:
    """The DAG as the DAG processor last serialized it (404 when it has not been parsed)."""
    from airflow.models.dagbag import DBDagBag

    dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
    if dag is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"DAG {dag_id!r} has not been parsed yet")
    return dag


def definition_digest(session: Session, dag_id: str) -> str:
    """SHA-256 of the definition text the DAG was built from (400: not a pipeline DAG)."""
    from airflow_mlpipelines.plugins.outputs_app import definition_in

    found = definition_in(getattr(latest_dag(session, dag_id), "doc_md", None))
    if found is None:
        raise refuse(
            RequestError(f"DAG {dag_id!r} is not a pipeline built from a definition file", field="dag_id")
        )
    return hashlib.sha256(found[1].encode()).hexdigest()


def _params(dag: SerializedDAG) -> list[ParamInfo]:
    found = []
    for name in dag.params:
        schema = dag.params.get_param(name).schema
        found.append(ParamInfo(name, schema.get("type") if isinstance(schema.get("type"), str) else None))
    return found


def _base(request: Request) -> str:
    """This app's absolute address (scheme, host, any ``[api] base_url`` path and the mount point)."""
    return f"{request.url.scheme}://{request.url.netloc}{page.mount_root(request.scope)}"


def _published_json(request: Request, record: PublishedRecord) -> dict[str, Any]:
    return {
        "Id": record.id,
        "Name": record.name,
        "Description": record.description,
        "Version": record.version,
        "Status": record.status,
        "DagId": record.dag_id,
        "ContinueOnStepFailure": record.continue_on_step_failure,
        "PublishedBy": record.published_by,
        "PublishedAt": record.published_at,
        "Endpoint": f"{_base(request)}/pipelines/{record.id}",
    }


def _endpoint_json(request: Request, record: EndpointRecord) -> dict[str, Any]:
    return {
        "Name": record.name,
        "Description": record.description,
        "DefaultVersion": record.default_version,
        "Versions": record.versions,
        "Status": record.status,
        "CreatedBy": record.created_by,
        "CreatedAt": record.created_at,
        "Endpoint": f"{_base(request)}/endpoints/{record.name}",
    }


def _schedule_json(record: ScheduleRecord, model: DagModel | None) -> dict[str, Any]:
    return {
        "Id": record.schedule_id,
        "Name": record.name,
        "DagId": record.dag_id,
        "PipelineId": record.pipeline_id,
        "ExperimentName": record.experiment_name,
        "Description": record.description,
        "Schedule": record.schedule,
        "PipelineParameters": record.pipeline_parameters,
        "Status": record.status,
        "ChangedBy": record.changed_by,
        "ChangedAt": record.changed_at,
        "History": [
            {"Schedule": h.schedule, "ChangedBy": h.changed_by, "ChangedAt": h.changed_at}
            for h in record.history
        ],
        "TimetableSummary": model.timetable_summary if model is not None else None,
        "NextRun": model.next_dagrun.isoformat() if model is not None and model.next_dagrun else None,
    }


def _published_or_404(session: Session, pipeline_id: str, for_update: bool = False) -> PublishedRecord:
    record = registry.published(session, pipeline_id, for_update)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {pipeline_id!r}")
    return record


def _endpoint_or_404(session: Session, name: str, for_update: bool = False) -> EndpointRecord:
    record = registry.endpoint(session, name, for_update)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no pipeline endpoint {name!r}")
    return record


def _text(body: dict[str, Any], key: str) -> str | None:
    """An optional string field of a JSON body (400 naming it when it is not a string)."""
    value = body.get(key)
    return None if value is None else _required(body, key)


def _required(body: dict[str, Any], key: str) -> str:
    """A string field the body must have (400 naming it)."""
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise refuse(RequestError(f"{key} must be a non-empty string", field=key))
    return value.strip()


def request_reparse(session: Session, model: DagModel) -> None:
    """Ask the DAG processor to parse the DAG's file next (what Airflow's reparse endpoint does)."""
    from airflow.models.dagbag import DagPriorityParsingRequest

    if model.relative_fileloc:
        session.merge(DagPriorityParsingRequest(model.bundle_name, model.relative_fileloc))


def trigger(
    session: Session, request: Request, user: BaseUser, record: PublishedRecord, body: Any
) -> JSONResponse:
    """Start a run of a published pipeline from Azure ML's request body; answer with its ``Id``."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.exceptions import ParamValidationError
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    authorize(user, record.dag_id, "POST", DagAccessEntity.RUN)
    if record.status != "Active":
        raise HTTPException(status.HTTP_409_CONFLICT, f"published pipeline {record.name!r} is disabled")
    model = dag_model(session, record.dag_id)
    if model.has_import_errors:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"DAG {record.dag_id!r} has import errors and cannot be run"
        )
    if definition_digest(session, record.dag_id) != record.definition_digest:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the definition of {record.dag_id!r} has changed since pipeline {record.name!r} "
            f"(id {record.id}) was published; publish it again (a published pipeline runs only the "
            "definition it was published from)",
        )
    dag = latest_dag(session, record.dag_id)
    try:
        wanted = run_request(body, _params(dag), record.name)
    except RequestError as exc:
        raise refuse(exc) from None
    try:
        params = TriggerDAGRunPostBody(logical_date=None, conf=wanted.conf).validate_context(dag)
        run = dag.create_dagrun(
            run_id=params["run_id"],
            logical_date=params["logical_date"],
            data_interval=params["data_interval"],
            run_after=params["run_after"],
            conf=params["conf"],
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.REST_API,
            triggering_user_name=user.get_name(),
            state=DagRunState.QUEUED,
            partition_key=params["partition_key"],
            partition_date=params["partition_date"],
            session=session,
        )
    except (ParamValidationError, ValueError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, {"message": str(exc)}) from None
    run.note = (wanted.note, user.get_id())
    log.info(
        "%s started run %s of published pipeline %s (%s)", user.get_name(), run.run_id, record.name, record.id
    )
    return JSONResponse(
        {
            "Id": run.run_id,
            "Status": "NotStarted",
            "PipelineId": record.id,
            "DagId": record.dag_id,
            "ExperimentName": wanted.experiment_name or record.name,
            "Tags": wanted.tags,
        },
        status_code=status.HTTP_200_OK,
    )


runs = APIRouter()


@runs.post("/pipelines/{pipeline_id}")
def run_published(
    request: Request, session: SessionDep, user: GetUserDep, pipeline_id: str, body: OptionalBody = None
) -> JSONResponse:
    """Run a published pipeline (Azure ML's ``published_pipeline.endpoint``)."""
    return trigger(session, request, user, _published_or_404(session, pipeline_id), body)


@runs.post("/endpoints/{name}")
def run_endpoint_default(
    request: Request, session: SessionDep, user: GetUserDep, name: str, body: OptionalBody = None
) -> JSONResponse:
    """Run a pipeline endpoint's default version (or ``PipelineVersion`` from the body)."""
    return _run_endpoint(request, session, user, name, None, body)


@runs.post("/endpoints/{name}/{version}")
def run_endpoint_version(
    request: Request,
    session: SessionDep,
    user: GetUserDep,
    name: str,
    version: str,
    body: OptionalBody = None,
) -> JSONResponse:
    """Run one version of a pipeline endpoint."""
    return _run_endpoint(request, session, user, name, version, body)


def _run_endpoint(
    request: Request, session: SessionDep, user: BaseUser, name: str, version: str | None, body: Any
) -> JSONResponse:
    endpoint = _endpoint_or_404(session, name)
    if version is None and isinstance(body, dict) and body.get("PipelineVersion") is not None:
        version = str(body["PipelineVersion"])
    try:
        pipeline_id = endpoint.pipeline_of(version)
    except RequestError as exc:
        raise refuse(exc) from None
    record = _published_or_404(session, pipeline_id)
    authorize(user, record.dag_id, "POST", DagAccessEntity.RUN)
    if endpoint.status != "Active":
        raise HTTPException(status.HTTP_409_CONFLICT, f"pipeline endpoint {name!r} is disabled")
    return trigger(session, request, user, record, body)


api = APIRouter(prefix="/api")


@api.post("/published")
def publish(request: Request, session: SessionDep, user: GetUserDep, body: JsonBody) -> JSONResponse:
    """``pipeline.publish(name, description, version)``: pin the DAG's current definition under an id."""
    dag_id = _required(body, "dag_id")
    authorize(user, dag_id, "PUT")
    dag_model(session, dag_id)
    record = PublishedRecord(
        id=str(uuid.uuid4()),
        name=_text(body, "name") or dag_id,
        dag_id=dag_id,
        definition_digest=definition_digest(session, dag_id),
        published_by=user.get_name(),
        published_at=now(),
        version=_text(body, "version"),
        description=_text(body, "description"),
        continue_on_step_failure=bool(body.get("continue_on_step_failure", False)),
    )
    registry.save_published(session, record)
    log.info("%s published DAG %s as %s (%s)", user.get_name(), dag_id, record.name, record.id)
    return JSONResponse(_published_json(request, record), status_code=status.HTTP_201_CREATED)


@api.get("/published")
def list_published(request: Request, session: SessionDep, user: GetUserDep) -> list[dict[str, Any]]:
    """Every published pipeline of a DAG the caller may read."""
    readable = readable_dags(user)
    return [_published_json(request, r) for r in registry.all_published(session) if r.dag_id in readable]


@api.get("/published/{pipeline_id}")
def get_published(
    request: Request, session: SessionDep, user: GetUserDep, pipeline_id: str
) -> dict[str, Any]:
    """One published pipeline."""
    record = _published_or_404(session, pipeline_id)
    authorize(user, record.dag_id, "GET")
    return _published_json(request, record)


@api.post("/published/{pipeline_id}/{action}")
def set_published_status(
    request: Request, session: SessionDep, user: GetUserDep, pipeline_id: str, action: str
) -> dict[str, Any]:
    """``disable()`` / ``enable()``: the record's status, and the DAG paused / unpaused with it."""
    if action not in ("disable", "enable"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r} (disable, enable)")
    record = _published_or_404(session, pipeline_id, for_update=True)
    authorize(user, record.dag_id, "PUT")
    changed = dataclasses.replace(record, status="Disabled" if action == "disable" else "Active")
    registry.save_published(session, changed)
    dag_model(session, record.dag_id).is_paused = action == "disable"
    return _published_json(request, changed)


@api.post("/endpoints")
def create_endpoint(request: Request, session: SessionDep, user: GetUserDep, body: JsonBody) -> JSONResponse:
    """``PipelineEndpoint.publish(ws, name, description, pipeline)``: a new endpoint, version 0."""
    name, pipeline_id = _required(body, "name"), _required(body, "pipeline_id")
    if "/" in name:
        raise refuse(RequestError("an endpoint name must not contain '/'", field="name"))
    published = _published_or_404(session, pipeline_id)
    authorize(user, published.dag_id, "PUT")
    if registry.endpoint(session, name) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"pipeline endpoint {name!r} exists; add a version to it instead"
        )
    record = EndpointRecord(
        name=name,
        default_version="0",
        versions={"0": pipeline_id},
        created_by=user.get_name(),
        created_at=now(),
        description=_text(body, "description"),
    )
    registry.save_endpoint(session, record)
    return JSONResponse(_endpoint_json(request, record), status_code=status.HTTP_201_CREATED)


@api.get("/endpoints")
def list_endpoints(request: Request, session: SessionDep, user: GetUserDep) -> list[dict[str, Any]]:
    """Every endpoint whose default version's DAG the caller may read."""
    readable = readable_dags(user)
    found = []
    for record in registry.all_endpoints(session):
        versions = [registry.published(session, p) for p in set(record.versions.values())]
        # Listed only when the caller may read every version's DAG (as get_endpoint requires).
        if all(v is not None and v.dag_id in readable for v in versions):
            found.append(_endpoint_json(request, record))
    return found


@api.get("/endpoints/{name}")
def get_endpoint(request: Request, session: SessionDep, user: GetUserDep, name: str) -> dict[str, Any]:
    """One endpoint."""
    record = _endpoint_or_404(session, name)
    _authorize_endpoint(session, user, record, "GET")
    return _endpoint_json(request, record)


def _authorize_endpoint(
    session: Session, user: BaseUser, record: EndpointRecord, method: ResourceMethod
) -> None:
    for pipeline_id in set(record.versions.values()):
        published = registry.published(session, pipeline_id)
        if published is not None:
            authorize(user, published.dag_id, method)


@api.post("/endpoints/{name}/versions")
def add_endpoint_version(
    request: Request, session: SessionDep, user: GetUserDep, name: str, body: JsonBody
) -> dict[str, Any]:
    """``endpoint.add(pipeline)`` / ``add_default(pipeline)``: the next version number."""
    record = _endpoint_or_404(session, name, for_update=True)
    pipeline_id = _required(body, "pipeline_id")
    published = _published_or_404(session, pipeline_id)
    authorize(user, published.dag_id, "PUT")
    _authorize_endpoint(session, user, record, "PUT")
    changed = record.with_pipeline(pipeline_id, make_default=bool(body.get("set_default", False)))
    registry.save_endpoint(session, changed)
    return _endpoint_json(request, changed)


@api.put("/endpoints/{name}/default")
def set_endpoint_default(
    request: Request, session: SessionDep, user: GetUserDep, name: str, body: JsonBody
) -> dict[str, Any]:
    """``endpoint.set_default_version(version)``."""
    record = _endpoint_or_404(session, name, for_update=True)
    _authorize_endpoint(session, user, record, "PUT")
    version = str(body.get("version", ""))
    try:
        record.pipeline_of(version)
    except RequestError as exc:
        raise refuse(exc) from None
    changed = dataclasses.replace(record, default_version=version)
    registry.save_endpoint(session, changed)
    return _endpoint_json(request, changed)


@api.post("/endpoints/{name}/{action}")
def set_endpoint_status(
    request: Request, session: SessionDep, user: GetUserDep, name: str, action: str
) -> dict[str, Any]:
    """``endpoint.disable()`` / ``enable()`` (its published pipelines keep their own status)."""
    if action not in ("disable", "enable"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r} (disable, enable)")
    record = _endpoint_or_404(session, name, for_update=True)
    _authorize_endpoint(session, user, record, "PUT")
    changed = dataclasses.replace(record, status="Disabled" if action == "disable" else "Active")
    registry.save_endpoint(session, changed)
    return _endpoint_json(request, changed)


@api.put("/schedules/{dag_id}")
def put_schedule(session: SessionDep, user: GetUserDep, dag_id: str, body: JsonBody) -> dict[str, Any]:
    """Set a pipeline's schedule (``Schedule.create`` / ``update``): validated, recorded with who and when."""
    from airflow_mlpipelines.plugins.schedule_check import check_for_dag, checked_schedule

    authorize(user, dag_id, "PUT")
    model = dag_model(session, dag_id)
    if "schedule" not in body:
        raise refuse(RequestError("the body needs a 'schedule' (null for none)", field="schedule"))
    schedule = body["schedule"]
    try:
        parsed = checked_schedule(schedule)
    except RequestError as exc:
        raise refuse(exc) from None
    parameters = body.get("pipeline_parameters") or {}
    if not isinstance(parameters, dict):
        raise refuse(RequestError("pipeline_parameters must be an object", field="pipeline_parameters"))
    pipeline_id = _text(body, "pipeline_id")
    if pipeline_id is not None and _published_or_404(session, pipeline_id).dag_id != dag_id:
        raise refuse(
            RequestError(f"published pipeline {pipeline_id!r} is not one of {dag_id!r}", field="pipeline_id")
        )
    try:
        check_for_dag(parsed, parameters, latest_dag(session, dag_id))
    except RequestError as exc:
        raise refuse(exc) from None
    updates = {
        "name": _text(body, "name"),
        "schedule_id": _text(body, "schedule_id"),
        "pipeline_id": pipeline_id,
        "experiment_name": _text(body, "experiment_name"),
        "description": _text(body, "description"),
        "pipeline_parameters": parameters,
        "status": "Disabled" if body.get("status") == "Disabled" else "Active",
    }
    record = save_schedule(session, user, model, schedule, **updates)
    return _schedule_json(record, model)


def save_schedule(
    session: Session, user: BaseUser, model: DagModel, schedule: Any, **updates: Any
) -> ScheduleRecord:
    """Store ``schedule`` for the DAG (the earlier one kept in the history) and ask for a reparse."""
    old = registry.schedule(session, model.dag_id, for_update=True)
    if old is None:
        record = ScheduleRecord(model.dag_id, schedule, user.get_name(), now(), **updates)
    else:
        kept = {k: v for k, v in updates.items() if v is not None or k in ("status",)}
        record = old.changed(schedule, user.get_name(), now(), **kept)
    registry.save_schedule(session, record)
    request_reparse(session, model)
    log.info("%s set the schedule of %s to %r", user.get_name(), model.dag_id, schedule)
    return record


@api.get("/schedules")
def list_schedules(session: SessionDep, user: GetUserDep) -> list[dict[str, Any]]:
    """Every stored schedule of a DAG the caller may read."""
    readable = readable_dags(user)
    return [_schedule_json(r, None) for r in registry.all_schedules(session) if r.dag_id in readable]


@api.get("/schedules/{dag_id}")
def get_schedule(session: SessionDep, user: GetUserDep, dag_id: str) -> dict[str, Any]:
    """The stored schedule of one DAG, with the timetable Airflow shows for it and its next run."""
    authorize(user, dag_id, "GET")
    record = registry.schedule(session, dag_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule stored for {dag_id!r}")
    return _schedule_json(record, dag_model(session, dag_id))


@api.post("/schedules/{dag_id}/{action}")
def set_schedule_status(session: SessionDep, user: GetUserDep, dag_id: str, action: str) -> dict[str, Any]:
    """``schedule.disable()`` / ``enable()``: scheduled runs stop / resume (the record is kept)."""
    if action not in ("disable", "enable"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no action {action!r} (disable, enable)")
    authorize(user, dag_id, "PUT")
    model = dag_model(session, dag_id)
    record = registry.schedule(session, dag_id, for_update=True)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule stored for {dag_id!r}")
    changed = record.changed(
        record.schedule, user.get_name(), now(), status="Disabled" if action == "disable" else "Active"
    )
    registry.save_schedule(session, changed)
    request_reparse(session, model)
    return _schedule_json(changed, model)
