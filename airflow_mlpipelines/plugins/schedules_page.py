"""The Schedules page: every pipeline with its schedule and next run; edit, preview or pause it.

``GET /mlpipelines/schedules`` lists the pipelines (DAGs tagged ``mlpipelines``) the caller may read.
A caller with edit permission on a DAG gets a form: *Preview* shows the next five run times of the
typed schedule (or what is wrong with it, naming the field), *Save* stores it (with who and when, for
the DAG factory to read at its next parse, which is requested at once), *Pause*/*Unpause* pauses the DAG.
Forms carry a token bound to the user and the DAG (HMAC with the API server's secret key), on top of the
UI cookie's ``SameSite=Lax``, so another site cannot post them. No script runs on the page.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# FastAPI reads the route annotations at run time, so these cannot move under TYPE_CHECKING.
from airflow.api_fastapi.common.db.common import SessionDep  # noqa: TC002
from airflow.api_fastapi.core_api.security import GetUserDep  # noqa: TC002
from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from airflow_mlpipelines.exceptions import RequestError
from airflow_mlpipelines.operators.links import URL_PREFIX
from airflow_mlpipelines.plugins import page, registry
from airflow_mlpipelines.plugins.operations_app import (
    authorize,
    dag_model,
    latest_dag,
    readable_dags,
    save_schedule,
)
from airflow_mlpipelines.plugins.schedule_check import (
    check_for_dag,
    checked_schedule,
    describe,
    is_event_driven,
    next_runs,
    read_text,
)

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.models.dag import DagModel
    from sqlalchemy.orm import Session

    from airflow_mlpipelines.pipeline.publishing import ScheduleRecord

CONTENT_SECURITY_POLICY = page.CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'")
_HEADERS = page.headers(CONTENT_SECURITY_POLICY)

router = APIRouter()


def form_token(user: BaseUser, dag_id: str) -> str:
    """The token a form for ``dag_id`` carries: only this user's page on this server can make it."""
    from airflow.configuration import conf

    key = (conf.get("api", "secret_key", fallback="") or "").encode()
    if not key:  # a token anyone could compute protects nothing
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "[api] secret_key is not set: forms are off")
    return hmac.new(key, f"{user.get_id()}\0{dag_id}".encode(), hashlib.sha256).hexdigest()


def _pipelines(session: Session, user: BaseUser) -> list[DagModel]:
    from airflow.models.dag import DagModel, DagTag
    from sqlalchemy import select

    readable = readable_dags(user)
    rows = session.scalars(
        select(DagModel)
        .join(DagTag, DagTag.dag_id == DagModel.dag_id)
        .where(DagTag.name == "mlpipelines", ~DagModel.is_stale)
        .order_by(DagModel.dag_id)
    )
    return [row for row in rows if row.dag_id in readable]


def _can_edit(user: BaseUser, dag_id: str) -> bool:
    try:
        authorize(user, dag_id, "PUT")
    except HTTPException:
        return False
    return True


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _stored(value: Any) -> str:
    return "none" if value is None else value if isinstance(value, str) else _flow(value)


def _flow(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _row(
    root: str, user: BaseUser, model: DagModel, record: ScheduleRecord | None, result: str, typed: str | None
) -> str:
    dag_id = model.dag_id
    summary = model.timetable_summary or "none"
    who = (
        f"{escape(record.changed_by)} at {escape(record.changed_at)}"
        + (" (disabled)" if record.status == "Disabled" else "")
        if record is not None
        else "the definition"
    )
    cells = [
        f'<td><a href="{escape(root.removesuffix(URL_PREFIX))}/dags/{quote(dag_id, safe="")}" '
        f'target="_top">{escape(dag_id)}</a></td>',
        f'<td class="summary">{escape(summary)}</td>',
        f'<td class="next">{escape(_when(model.next_dagrun_create_after))}</td>',
        f'<td class="paused">{"paused" if model.is_paused else "active"}</td>',
        f"<td>{who}</td>",
    ]
    if _can_edit(user, dag_id):
        current = typed if typed is not None else _stored(record.schedule) if record is not None else ""
        pause = "unpause" if model.is_paused else "pause"
        cells.append(
            f'<td><form method="post" action="{escape(root)}/schedules/{quote(dag_id, safe="")}" '
            f'class="edit" data-dag="{escape(dag_id)}">'
            f'<input type="hidden" name="token" value="{form_token(user, dag_id)}">'
            f'<input type="text" name="schedule" size="36" value="{escape(current)}" '
            f'placeholder="0 6 * * *, @daily, none or {{frequency: Day, interval: 2}}">'
            '<button name="action" value="preview">Preview</button>'
            '<button name="action" value="save">Save</button>'
            f'<button name="action" value="{pause}">{pause.capitalize()}</button>'
            f"</form>{result}</td>"
        )
    else:
        cells.append('<td class="empty">view only</td>')
    return f'<tr data-dag="{escape(dag_id)}">{"".join(cells)}</tr>'


def render(
    root: str,
    session: Session,
    user: BaseUser,
    results: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> str:
    """The whole page; ``results`` holds the preview / error / saved message shown under one DAG's form."""
    results, typed = results or {}, typed or {}
    rows = []
    for model in _pipelines(session, user):
        record = registry.schedule(session, model.dag_id)
        rows.append(_row(root, user, model, record, results.get(model.dag_id, ""), typed.get(model.dag_id)))
    header = "".join(
        f"<th>{h}</th>" for h in ("pipeline", "schedule", "next run", "state", "set by", "change")
    )
    body = (
        "<h1>Pipeline schedules</h1>"
        '<p class="meta">A schedule saved here replaces the definition\'s own until it is changed again; '
        "the definition file is not touched. Forms: a cron expression, a preset (<code>@daily</code>), "
        "<code>none</code>, or a mapping such as <code>{frequency: Day, interval: 2, hours: [6]}</code>.</p>"
        + (
            f'<table class="schedules"><tr>{header}</tr>{"".join(rows)}</table>'
            if rows
            else '<p class="empty">No pipelines.</p>'
        )
    )
    return page.document("Pipeline schedules", body)


def _html(text: str, status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    return HTMLResponse(text, status_code=status_code, headers=_HEADERS)


@router.get("/schedules", response_class=HTMLResponse)
def schedules(request: Request, session: SessionDep, user: GetUserDep) -> HTMLResponse:
    """The list of pipelines with their schedules."""
    return _html(render(page.mount_root(request.scope), session, user))


@router.post("/schedules/{dag_id}", response_class=HTMLResponse)
def change_schedule(
    request: Request,
    session: SessionDep,
    user: GetUserDep,
    dag_id: str,
    action: str = Form(...),
    token: str = Form(...),
    schedule: str = Form(""),
) -> HTMLResponse:
    """Preview, save, pause or unpause one pipeline's schedule (edit permission on the DAG)."""
    authorize(user, dag_id, "PUT")
    if not hmac.compare_digest(token, form_token(user, dag_id)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: the form's token does not match")
    model = dag_model(session, dag_id)
    code = status.HTTP_200_OK
    if action in ("pause", "unpause"):
        model.is_paused = action == "pause"
        message = f'<p class="saved">{"Paused" if action == "pause" else "Unpaused"}.</p>'
    elif action in ("preview", "save"):
        try:
            value = read_text(schedule)
            checked = checked_schedule(value)
            check_for_dag(checked, {}, latest_dag(session, dag_id))
            times = next_runs(checked)
        except RequestError as exc:
            code = status.HTTP_400_BAD_REQUEST
            where = f" ({escape(exc.field)})" if exc.field else ""
            message = f'<p class="problem">{escape(str(exc))}{where}</p>'
        else:
            listed = "".join(f"<li>{escape(_when(t))}</li>" for t in times) or "<li>no scheduled runs</li>"
            if is_event_driven(checked):
                listed = f"<li>runs on events: {escape(describe(checked))}</li>"
            message = f'<ol class="preview">{listed}</ol>'
            if action == "save":
                save_schedule(session, user, model, value)
                message = (
                    f'<p class="saved">Saved by {escape(user.get_name())}; Airflow shows it once the DAG '
                    f"processor has parsed the definition again (requested now).</p>{message}"
                )
    else:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown action {action!r}")
    session.flush()
    text = render(page.mount_root(request.scope), session, user, {dag_id: message}, {dag_id: schedule})
    return _html(text, code)
